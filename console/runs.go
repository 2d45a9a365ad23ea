package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
)

// The runs page's sizes.
const (
	// runsPageSize is how many runs a page shows.
	runsPageSize = 50
	// textScanLimit bounds a text search: the store has no text index, so a search reads at
	// most this many runs (newest first, after the other filters) per page, and says so.
	textScanLimit = 5000
	textScanBatch = 500
)

// sinceChoices are the time filter's values, newest first.
var sinceChoices = []struct{ Value, Label string }{
	{"", "any time"}, {"1h", "last hour"}, {"24h", "last 24 hours"}, {"7d", "last 7 days"}, {"30d", "last 30 days"},
}

func sinceDuration(v string) (time.Duration, bool) {
	switch v {
	case "":
		return 0, true
	case "1h":
		return time.Hour, true
	case "24h":
		return 24 * time.Hour, true
	case "7d":
		return 7 * 24 * time.Hour, true
	case "30d":
		return 30 * 24 * time.Hour, true
	}
	return 0, false
}

// runsQuery is the runs page's filter form, as the query string carries it.
type runsQuery struct {
	State, Job, Queue, Since, Text, Before string
}

func parseRunsQuery(v url.Values) (runsQuery, []hashike.FieldError) {
	q := runsQuery{State: v.Get("state"), Job: strings.TrimSpace(v.Get("job")), Queue: strings.TrimSpace(v.Get("queue")),
		Since: v.Get("since"), Text: strings.TrimSpace(v.Get("q")), Before: v.Get("before")}
	var bad []hashike.FieldError
	if q.State != "" && !hashike.RunState(q.State).Valid() {
		bad = append(bad, hashike.FieldError{Path: "state", Message: fmt.Sprintf("unknown state %q", q.State)})
	}
	if _, ok := sinceDuration(q.Since); !ok {
		bad = append(bad, hashike.FieldError{Path: "since", Message: fmt.Sprintf("unknown time range %q", q.Since)})
	}
	for name, s := range map[string]string{"job": q.Job, "queue": q.Queue, "q": q.Text, "before": q.Before} {
		if len(s) > 200 {
			bad = append(bad, hashike.FieldError{Path: name, Message: "longer than 200 characters"})
		}
	}
	slices.SortFunc(bad, func(a, b hashike.FieldError) int { return strings.Compare(a.Path, b.Path) })
	return q, bad
}

// values is the query without the cursor (for the page's links and its live refresh).
func (q runsQuery) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"state": q.State, "job": q.Job, "queue": q.Queue, "since": q.Since, "q": q.Text} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

func (q runsQuery) filter(now time.Time, limit int) hashike.RunFilter {
	f := hashike.RunFilter{Job: q.Job, Queue: q.Queue, Before: q.Before, Limit: limit}
	if q.State != "" {
		f.States = []hashike.RunState{hashike.RunState(q.State)}
	}
	if d, _ := sinceDuration(q.Since); d > 0 {
		f.Since = now.Add(-d)
	}
	return f
}

// matches reports whether a run matches a text search: its ID, job, queue, trigger, state or
// exit reason contains the text (case-insensitive).
func matches(r *hashike.Run, text string) bool {
	text = strings.ToLower(text)
	for _, s := range []string{r.ID, r.Job, r.Queue, r.Trigger, string(r.State), r.RootID} {
		if strings.Contains(strings.ToLower(s), text) {
			return true
		}
	}
	return r.Exit != nil && strings.Contains(strings.ToLower(r.Exit.Reason), text)
}

// listRuns reads one page of the runs page: a store page, or with a text search, the
// matches among at most textScanLimit runs. scanned is how many runs a search read.
func (c *Console) listRuns(r *http.Request, q runsQuery) (runs []api.RunView, next string, scanned int, err error) {
	now := c.opts.Now()
	if q.Text == "" {
		page, err := c.svc.ListRuns(r.Context(), q.filter(now, runsPageSize))
		return page.Runs, page.Next, 0, err
	}
	f := q.filter(now, textScanBatch)
	for scanned < textScanLimit {
		page, err := c.svc.ListRuns(r.Context(), f)
		if err != nil {
			return nil, "", scanned, err
		}
		for i, v := range page.Runs {
			scanned++
			if matches(v.Run, q.Text) {
				runs = append(runs, v)
				if len(runs) == runsPageSize {
					if i == len(page.Runs)-1 {
						return runs, page.Next, scanned, nil
					}
					return runs, v.ID, scanned, nil
				}
			}
		}
		if page.Next == "" {
			return runs, "", scanned, nil
		}
		f.Before = page.Next
	}
	return runs, f.Before, scanned, nil
}

func (c *Console) runsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	q, bad := parseRunsQuery(r.URL.Query())
	if bad != nil {
		return &hashike.Error{Code: hashike.EInvalid, Message: "runs filter", Fields: bad}
	}
	runs, next, scanned, err := c.listRuns(r, q)
	if err != nil {
		return err
	}
	v := q.values()
	data := map[string]any{
		"Title": "Runs", "Runs": runs, "Query": q, "States": hashike.RunStates, "SinceChoices": sinceChoices,
		"Scanned": scanned, "ScanLimit": textScanLimit, "Filtered": len(v) > 0,
		// Only the first page updates itself: a later page is a fixed window of history, and
		// a text search reads thousands of runs, too many to repeat every few seconds.
		"Live": q.Before == "" && q.Text == "",
	}
	if next != "" {
		nv := q.values()
		nv.Set("before", next)
		data["NextURL"] = Prefix + "runs?" + nv.Encode()
	}
	if q.Before != "" {
		data["FirstURL"] = Prefix + "runs?" + v.Encode()
	}
	fv := q.values()
	fv.Set("fragment", "rows")
	data["RefreshURL"] = Prefix + "runs?" + fv.Encode()
	c.render(w, r, s, http.StatusOK, "runs", data)
	return nil
}

// timelineEntry is one line of a run's timeline.
type timelineEntry struct {
	At     time.Time
	From   hashike.RunState
	To     hashike.RunState
	Reason string
}

func (c *Console) runPage(w http.ResponseWriter, r *http.Request, s *session) error {
	v, err := c.svc.GetRun(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	var timeline []timelineEntry
	for _, t := range v.History {
		timeline = append(timeline, timelineEntry{At: t.At, From: t.From, To: t.To, Reason: t.Reason})
	}
	data := map[string]any{"Title": "Run " + v.ID, "Run": v, "Timeline": timeline, "Payload": prettyJSON(v.Payload),
		"TaskLink": ecsTaskLink(v.Task), "Live": !v.State.Terminal(),
		"Usage": usageView(v.Run, c.opts.Now()), "Result": c.resultView(r.Context(), v)}
	c.render(w, r, s, http.StatusOK, "run", data)
	return nil
}

// prettyJSON indents a JSON value for reading and editing ("" for none).
func prettyJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return string(raw)
	}
	return b.String()
}

// ecsTaskLink is the AWS console's page of an ECS task ("" for a task that is not one: a
// local run's).
func ecsTaskLink(t *hashike.TaskRef) string {
	if t == nil || !strings.HasPrefix(t.ID, "arn:aws") {
		return ""
	}
	// arn:PARTITION:ecs:REGION:ACCOUNT:task/CLUSTER/TASKID (or the old task/TASKID).
	parts := strings.SplitN(t.ID, ":", 6)
	if len(parts) != 6 || parts[2] != "ecs" {
		return ""
	}
	region, res := parts[3], strings.Split(parts[5], "/")
	if len(res) < 2 || res[0] != "task" {
		return ""
	}
	id, cluster := res[len(res)-1], t.Cluster
	if len(res) == 3 {
		cluster = res[1]
	}
	if i := strings.LastIndex(cluster, "/"); i >= 0 {
		cluster = cluster[i+1:] // a cluster ARN
	}
	if cluster == "" || region == "" {
		return ""
	}
	host := "console.aws.amazon.com"
	if parts[1] == "aws-cn" {
		host = "console.amazonaws.cn"
	}
	return fmt.Sprintf("https://%s.%s/ecs/v2/clusters/%s/tasks/%s/configuration?region=%s",
		region, host, url.PathEscape(cluster), url.PathEscape(id), url.QueryEscape(region))
}

func (c *Console) cancel(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" {
		reason = "canceled in the console by " + s.Who()
	}
	if _, err := c.svc.Cancel(r.Context(), id, api.CancelRequest{Reason: reason}); err != nil {
		return err
	}
	http.Redirect(w, r, Prefix+"runs/"+url.PathEscape(id), http.StatusSeeOther)
	return nil
}

// payloadField reads a form's JSON payload: nil for an empty field, EInvalid naming the
// field for text that is not JSON.
func payloadField(r *http.Request, max int) (json.RawMessage, error) {
	p := strings.TrimSpace(r.PostFormValue("payload"))
	if p == "" {
		return nil, nil
	}
	if len(p) > max {
		return nil, &hashike.Error{Code: hashike.ETooLarge, Message: fmt.Sprintf("payload: %d bytes, at most %d", len(p), max)}
	}
	if !json.Valid([]byte(p)) {
		var v any
		err := json.Unmarshal([]byte(p), &v)
		return nil, &hashike.Error{Code: hashike.EInvalid, Message: "payload",
			Fields: []hashike.FieldError{{Path: "payload", Message: "not JSON: " + err.Error()}}}
	}
	return json.RawMessage(p), nil
}

func (c *Console) rerun(w http.ResponseWriter, r *http.Request, _ *session) error {
	payload, err := payloadField(r, c.svc.MaxPayloadBytes())
	if err != nil {
		return err
	}
	run, err := c.svc.Rerun(r.Context(), r.PathValue("id"), api.RerunRequest{Payload: payload, Latest: r.PostFormValue("latest") != ""})
	if err != nil {
		return err
	}
	http.Redirect(w, r, Prefix+"runs/"+url.PathEscape(run.ID), http.StatusSeeOther)
	return nil
}

func (c *Console) enqueueForm(w http.ResponseWriter, r *http.Request, s *session) error {
	jobs, err := c.svc.ListJobs(r.Context())
	if err != nil {
		return err
	}
	c.render(w, r, s, http.StatusOK, "enqueue", map[string]any{"Title": "New run", "Jobs": jobs, "Job": r.URL.Query().Get("job")})
	return nil
}

func (c *Console) enqueue(w http.ResponseWriter, r *http.Request, _ *session) error {
	payload, err := payloadField(r, c.svc.MaxPayloadBytes())
	if err != nil {
		return err
	}
	job := r.PostFormValue("job")
	if job == "" {
		return &hashike.Error{Code: hashike.EInvalid, Message: "enqueue", Fields: []hashike.FieldError{{Path: "job", Message: "choose a job"}}}
	}
	run, _, err := c.svc.Enqueue(r.Context(), job, api.EnqueueRequest{Payload: payload, Queue: strings.TrimSpace(r.PostFormValue("queue"))})
	if err != nil {
		return err
	}
	http.Redirect(w, r, Prefix+"runs/"+url.PathEscape(run.ID), http.StatusSeeOther)
	return nil
}
