package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashike/hashike"
)

// logSearchParams are GET /v1/logs/search's query parameters.
var logSearchParams = []string{"family", "container", "since", "until", "state", "pattern", "limit"}

// logMatchLine is one line of a search's stream (application/x-ndjson): a match or, as the last
// line of a search that failed midway, an error.
type logMatchLine struct {
	hashike.LogMatch
	Error *wireError `json:"error,omitempty"`
}

// logQueryOf reads a search's query parameters; EInvalid naming every bad one.
func logQueryOf(v url.Values) (hashike.LogQuery, error) {
	var q hashike.LogQuery
	var fields []hashike.FieldError
	str := func(name string) string {
		s, f := single(v, name)
		if f != nil {
			fields = append(fields, *f)
		}
		return s
	}
	at := func(name string) time.Time {
		s := str(name)
		if s == "" {
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			fields = append(fields, queryField(name, "expected an RFC 3339 time, got %q", s))
		}
		return t
	}
	q.Family, q.Container, q.Pattern = str("family"), str("container"), str("pattern")
	q.Since, q.Until = at("since"), at("until")
	for _, s := range v["state"] {
		for _, st := range strings.Split(s, ",") {
			q.States = append(q.States, hashike.RunState(st))
		}
	}
	if s := str("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			fields = append(fields, queryField("limit", "expected a number of matches >= 0, got %q", s))
		}
		q.Limit = n
	}
	if fields != nil {
		return q, queryError(fields)
	}
	return q, nil
}

func (q logQuery) values() url.Values {
	v := url.Values{}
	set := func(name, val string) {
		if val != "" {
			v.Set(name, val)
		}
	}
	set("family", q.Family)
	set("container", q.Container)
	set("pattern", q.Pattern)
	if !q.Since.IsZero() {
		v.Set("since", q.Since.Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.Format(time.RFC3339Nano))
	}
	for _, s := range q.States {
		v.Add("state", string(s))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

type logQuery hashike.LogQuery

// searchLogs streams the matches of a log search, one per line, as the server finds them. The
// status is sent with the first match: a bad query is an ordinary error response, an error
// after the first match the stream's last line.
func (h *handler) searchLogs(w http.ResponseWriter, r *http.Request, v url.Values) error {
	q, err := logQueryOf(v)
	if err != nil {
		return err
	}
	if err := q.Validate(); err != nil {
		return err
	}
	// Flushed now and then: a search sends many lines at once.
	return streamLines(w, r, 100*time.Millisecond, func(send func(v any) error) error {
		return h.svc.SearchLogs(r.Context(), q, func(m hashike.LogMatch) error {
			return send(logMatchLine{LogMatch: m})
		})
	})
}

// SearchLogs searches the server's log archive (GET /v1/logs/search), calling fn with each
// match as it comes.
func (c *Client) SearchLogs(ctx context.Context, q hashike.LogQuery, fn func(hashike.LogMatch) error) error {
	resp, err := c.send(ctx, "GET", "/v1/logs/search", logQuery(q).values(), nil, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return readLines(ctx, resp.Body, "log search stream", func(l *logMatchLine) error { return fn(l.LogMatch) })
}
