package console

import (
	"net/url"
	"testing"
	"time"
)

// FuzzParseRunsQuery: any query string of the runs page either is refused with the fields
// named, or gives a filter within bounds whose own query string parses back to it.
func FuzzParseRunsQuery(f *testing.F) {
	for _, s := range []string{"", "state=failed&job=etl&since=24h&q=exit", "state=nope", "since=1y", "before=01abc&queue=q",
		"q=%ff%fe", "job=" + string(make([]byte, 300))} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, bad := parseRunsQuery(v)
		if bad != nil {
			for _, b := range bad {
				if b.Path == "" || b.Message == "" {
					t.Fatalf("unnamed problem %+v", b)
				}
			}
			return
		}
		f := q.filter(time.Unix(0, 0), runsPageSize)
		if len(f.States) > 1 || (len(f.States) == 1 && !f.States[0].Valid()) || f.Limit != runsPageSize {
			t.Fatalf("filter %+v", f)
		}
		for _, s := range []string{q.Job, q.Queue, q.Text, q.Before} {
			if len(s) > 200 {
				t.Fatalf("a field of %d bytes passed", len(s))
			}
		}
		back := q.values()
		if q.Before != "" {
			back.Set("before", q.Before)
		}
		again, bad := parseRunsQuery(back)
		if bad != nil || again != q {
			t.Fatalf("%+v does not round-trip: %+v %v", q, again, bad)
		}
	})
}
