package archive_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/archive"
)

type archivedRun struct {
	id, family string
	state      hashike.RunState
	entries    []hashike.LogEntry
}

// searchFixture archives three runs: two of family web (one failed), one of family batch.
func searchFixture(t *testing.T) (*fixture, []archivedRun) {
	t.Helper()
	ctx := context.Background()
	f := newFixture(t)
	runs := []archivedRun{
		{id: "01jd0000000000000000000001", family: "web", state: hashike.StateSucceeded},
		{id: "01jd0000000000000000000002", family: "web", state: hashike.StateFailed},
		{id: "01jd0000000000000000000003", family: "batch", state: hashike.StateSucceeded},
	}
	for i := range runs {
		r := &runs[i]
		f.createRun(t, r.id, r.family)
		r.entries = appendAll(t, f.db, r.id, output(60+10*i))
		end := t0.Add(time.Hour)
		if _, err := f.db.UpdateRun(ctx, r.id, hashike.RunUpdate{At: end, State: r.state, FinishedAt: &end}); err != nil {
			t.Fatal(err)
		}
		if err := f.arch.EnsureArchived(ctx, r.id); err != nil {
			t.Fatal(err)
		}
	}
	return f, runs
}

func (f *fixture) searcher() *archive.Searcher {
	return &archive.Searcher{Objects: f.objects, Runs: f.db, Workers: 3}
}

func matchString(m hashike.LogMatch) string {
	return fmt.Sprintf("%s %s/%s %s %s %q", m.RunID, m.Family, m.Container, m.Time.UTC().Format(time.RFC3339Nano), m.Stream, m.Line)
}

// expect is what a search must find: the entries filtered as the query says.
func expect(runs []archivedRun, q hashike.LogQuery) []string {
	re := regexp.MustCompile(q.Pattern)
	var want []string
	for _, r := range runs {
		if q.Family != "" && r.family != q.Family || len(q.States) > 0 && !slices.Contains(q.States, r.state) {
			continue
		}
		for _, e := range r.entries {
			text := bytes.TrimSuffix(e.Data, []byte("\n"))
			if q.Container != "" && e.Container != q.Container || !q.Since.IsZero() && e.Time.Before(q.Since) ||
				!q.Until.IsZero() && !e.Time.Before(q.Until) || !re.Match(text) {
				continue
			}
			want = append(want, matchString(hashike.LogMatch{RunID: r.id, Family: r.family, Container: e.Container, Time: e.Time,
				Stream: e.Stream.String(), Line: string(text)}))
		}
	}
	slices.Sort(want)
	return want
}

func search(t *testing.T, s *archive.Searcher, q hashike.LogQuery) ([]string, archive.Stats) {
	t.Helper()
	var got []string
	st, err := s.Search(context.Background(), q, func(m hashike.LogMatch) error {
		got = append(got, matchString(m))
		return nil
	})
	if err != nil {
		t.Fatalf("Search %+v: %v", q, err)
	}
	slices.Sort(got)
	return got, st
}

func TestSearch(t *testing.T) {
	f, runs := searchFixture(t)
	s := f.searcher()
	midnight := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	for _, q := range []hashike.LogQuery{
		{Pattern: "timed out"},                                  // a literal: the jump path
		{Pattern: "(?i)error request \\d+ TIMED"},               // no literal: every line parsed
		{Pattern: "timed out", Family: "web"},                   // partition pruning by family
		{Pattern: "ok$", Family: "web", Container: "proxy"},     // and container
		{Pattern: "line", States: []hashike.RunState{"failed"}}, // run state
		{Pattern: "line|ERROR", Family: "web", Container: "app", Since: midnight.Add(-time.Second), Until: midnight.Add(3 * time.Second)},
		{Pattern: "line", Since: midnight},
		{Pattern: `quote " backslash \\ tab \t nul \x00 ünïcode ✓ <html>&amp;`}, // escaped in the segment
		{Pattern: `binary \x{FFFD}`},                                            // kept in base64
		{Pattern: "binary"},                                                     // a literal, with base64 lines about
		{Pattern: "^$"},                                                         // the empty entries
	} {
		want := expect(runs, q)
		got, st := search(t, s, q)
		if len(want) == 0 {
			t.Fatalf("query %+v: the fixture has nothing to find", q)
		}
		if !slices.Equal(got, want) {
			t.Errorf("query %+v found:\n%s\nwant:\n%s", q, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if st.Matches != int64(len(want)) || st.Segments == 0 {
			t.Errorf("query %+v: stats %+v, want %d matches", q, st, len(want))
		}
	}

	// Partition pruning: a family's search reads only that family's segments.
	_, all := search(t, s, hashike.LogQuery{Pattern: "x"})
	_, web := search(t, s, hashike.LogQuery{Pattern: "x", Family: "web"})
	_, day := search(t, s, hashike.LogQuery{Pattern: "x", Family: "web", Container: "app", Since: midnight, Until: midnight.Add(time.Hour)})
	if !(day.Segments < web.Segments && web.Segments < all.Segments) {
		t.Errorf("segments read: %d for a day of one container, %d for a family, %d in all: want fewer the narrower the query",
			day.Segments, web.Segments, all.Segments)
	}

	// Limit stops the search.
	var n int
	if _, err := s.Search(context.Background(), hashike.LogQuery{Pattern: "line", Limit: 3}, func(hashike.LogMatch) error { n++; return nil }); err != nil || n != 3 {
		t.Errorf("Search with limit 3 = %d matches, %v", n, err)
	}
}

func TestSearchInvalid(t *testing.T) {
	f := newFixture(t)
	_, err := f.searcher().Search(context.Background(), hashike.LogQuery{Pattern: "(", Since: t0, Until: t0.Add(-time.Second),
		States: []hashike.RunState{"sleeping"}, Limit: -1}, func(hashike.LogMatch) error { return nil })
	var he *hashike.Error
	if hashike.ErrorCodeOf(err) != hashike.EInvalid || !errorsAs(err, &he) || len(he.Fields) != 4 {
		t.Fatalf("Search with four bad fields = %v, want EInvalid naming each", err)
	}
	for _, field := range []string{"pattern", "until", "state", "limit"} {
		if !strings.Contains(err.Error()+fmt.Sprint(he.Fields), field) {
			t.Errorf("the error does not name %s: %v %v", field, err, he.Fields)
		}
	}
	if _, err := f.searcher().Search(context.Background(), hashike.LogQuery{}, func(hashike.LogMatch) error { return nil }); hashike.ErrorCodeOf(err) != hashike.EInvalid {
		t.Errorf("Search without a pattern = %v, want EInvalid", err)
	}
}
