package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
)

// Client calls a hashike server's API: the CLI's --server mode. It is an api.Operations, as
// the server itself is. Its errors are those the
// server sent, as *hashike.Error with the same code and fields; *AuthError for a 401 or 403;
// EUnavailable when the server cannot be reached.
type Client struct {
	base  string // scheme://host[/prefix], no trailing slash
	token string
	hc    *http.Client
}

var _ api.Operations = (*Client)(nil)

// NewClient returns a client of the server at baseURL ("https://hashike.example.com", or
// with a path prefix when a proxy adds one) that sends token as its bearer token ("" sends
// none: a server with NoAuth). hc nil uses a new http.Client. Log streams last as long as the
// run, so hc should have no Timeout: bound calls with their contexts instead.
func NewClient(baseURL, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, hashike.Errorf(hashike.EInvalid, "server URL %q: want http(s)://host[:port][/prefix]", baseURL)
	}
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: strings.TrimSuffix(u.String(), "/"), token: token, hc: hc}, nil
}

// path is a route's path with names and IDs escaped into its %s verbs.
func path(format string, names ...string) string {
	args := make([]any, len(names))
	for i, n := range names {
		args[i] = url.PathEscape(n)
	}
	return fmt.Sprintf(format, args...)
}

// send makes a request and returns the response of a 2xx status; any other status is the
// error its body describes.
func (c *Client) send(ctx context.Context, method, p string, query url.Values, body io.Reader, contentType string) (*http.Response, error) {
	u := c.base + p
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, p, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &hashike.Error{Code: hashike.EUnavailable, Message: "hashike server " + c.base, Err: err}
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, responseError(resp)
}

// responseError reads an error response's body.
func responseError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var b errorBody
	if err := json.Unmarshal(data, &b); err != nil || b.Error.Code == "" {
		// Not the API's body: a proxy's page, or no server of ours at all.
		msg := strings.TrimSpace(string(data))
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		b.Error = wireError{Code: string(codeOfStatus(resp.StatusCode)), Message: strings.TrimSpace(resp.Status + " " + msg)}
	}
	return fromWire(resp.StatusCode, b.Error)
}

// call sends in (nil: no body) as JSON and decodes a 2xx response into out (nil: ignored).
// It returns the status.
func (c *Client) call(ctx context.Context, method, p string, query url.Values, in, out any) (int, error) {
	var body io.Reader
	ct := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, fmt.Errorf("%s %s: encode request: %w", method, p, err)
		}
		body, ct = bytes.NewReader(b), "application/json"
	}
	return c.do(ctx, method, p, query, body, ct, out)
}

func (c *Client) do(ctx context.Context, method, p string, query url.Values, body io.Reader, ct string, out any) (int, error) {
	resp, err := c.send(ctx, method, p, query, body, ct)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return 0, fmt.Errorf("%s %s: decode response: %w", method, p, err)
		}
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // lets the connection be reused
	return resp.StatusCode, nil
}

// Health checks that the server answers.
func (c *Client) Health(ctx context.Context) error {
	_, err := c.call(ctx, "GET", "/healthz", nil, nil, nil)
	return err
}

// ListJobs returns the latest version of every job.
func (c *Client) ListJobs(ctx context.Context) ([]api.JobView, error) {
	var out jobList
	_, err := c.call(ctx, "GET", "/v1/jobs", nil, nil, &out)
	return out.Jobs, err
}

// GetJob returns a version of a job; 0 is the latest.
func (c *Client) GetJob(ctx context.Context, name string, version int) (api.JobView, error) {
	var q url.Values
	if version != 0 {
		q = url.Values{"version": {fmt.Sprint(version)}}
	}
	var out api.JobView
	_, err := c.call(ctx, "GET", path("/v1/jobs/%s", name), q, nil, &out)
	return out, err
}

// ListJobVersions returns every version of a job, newest first.
func (c *Client) ListJobVersions(ctx context.Context, name string) ([]api.JobView, error) {
	var out versionList
	_, err := c.call(ctx, "GET", path("/v1/jobs/%s/versions", name), nil, nil, &out)
	return out.Versions, err
}

// PutJob registers doc, a job file, as the job's next version; created is false when it is
// the latest version already. contentType is "application/yaml" or "application/json"; ""
// guesses from the document.
func (c *Client) PutJob(ctx context.Context, name string, doc []byte, contentType string) (v api.JobView, created bool, err error) {
	if contentType == "" {
		contentType = "application/yaml"
		if t := bytes.TrimSpace(doc); len(t) > 0 && t[0] == '{' {
			contentType = "application/json"
		}
	}
	status, err := c.do(ctx, "PUT", path("/v1/jobs/%s", name), nil, bytes.NewReader(doc), contentType, &v)
	return v, status == http.StatusCreated, err
}

// RegisterJob is PutJob with the content type guessed from doc.
func (c *Client) RegisterJob(ctx context.Context, name string, doc []byte) (api.JobView, bool, error) {
	return c.PutJob(ctx, name, doc, "")
}

// Enqueue queues a run of the job. created is false when req.IdempotencyKey named an
// earlier run, which is returned.
func (c *Client) Enqueue(ctx context.Context, name string, req api.EnqueueRequest) (run *hashike.Run, created bool, err error) {
	status, err := c.call(ctx, "POST", path("/v1/jobs/%s/runs", name), nil, req, &run)
	return run, status == http.StatusCreated, err
}

// GetRun returns a run with its tries.
func (c *Client) GetRun(ctx context.Context, id string) (api.RunView, error) {
	var out api.RunView
	_, err := c.call(ctx, "GET", path("/v1/runs/%s", id), nil, nil, &out)
	return out, err
}

// ListRuns returns a page of runs, newest first; pass page.Next as f.Before for the next.
// The API selects by States, Job, Queue and RootID only: another field of f is EInvalid,
// refused before any request. Limit 0 is the server's DefaultRunLimit.
func (c *Client) ListRuns(ctx context.Context, f hashike.RunFilter) (api.RunPage, error) {
	q, err := queryOf(f)
	if err != nil {
		return api.RunPage{}, err
	}
	var out api.RunPage
	_, err = c.call(ctx, "GET", "/v1/runs", q.values(), nil, &out)
	return out, err
}

// Prune makes a retention pass on the server (with req.DryRun, says what it would delete).
func (c *Client) Prune(ctx context.Context, req api.PruneRequest) (hashike.PruneReport, error) {
	var rep hashike.PruneReport
	_, err := c.call(ctx, "POST", "/v1/prune", nil, req, &rep)
	return rep, err
}

// Cancel stops a run (or takes a queued one out of its queue).
func (c *Client) Cancel(ctx context.Context, id string, req api.CancelRequest) (*hashike.Run, error) {
	var run *hashike.Run
	_, err := c.call(ctx, "POST", path("/v1/runs/%s/cancel", id), nil, req, &run)
	return run, err
}

// Rerun enqueues a new run like the given one.
func (c *Client) Rerun(ctx context.Context, id string, req api.RerunRequest) (*hashike.Run, error) {
	var run *hashike.Run
	_, err := c.call(ctx, "POST", path("/v1/runs/%s/rerun", id), nil, req, &run)
	return run, err
}

// FollowLogs calls fn with each entry of the run's output as the server sends it. With follow it
// returns once the run has ended and all its output came; without, once the stored output
// came. An error of fn ends the stream and is returned.
func (c *Client) FollowLogs(ctx context.Context, id string, follow bool, fn func(hashike.LogEntry) error) error {
	var q url.Values
	if follow {
		q = url.Values{"follow": {"true"}}
	}
	p := path("/v1/runs/%s/logs", id)
	resp, err := c.send(ctx, "GET", p, q, nil, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return readLines(ctx, resp.Body, "log stream of run "+id, func(l *logLine) error {
		e, err := l.entry()
		if err != nil {
			return fmt.Errorf("GET %s: %w", p, err)
		}
		return fn(e)
	})
}

// streamLine is a line of a stream the server answers with streamLines: its last line may
// carry the error that cut the stream short.
type streamLine interface {
	streamError() *wireError
}

func (l logLine) streamError() *wireError      { return l.Error }
func (l logMatchLine) streamError() *wireError { return l.Error }

// readLines decodes the JSON lines of such a stream (what names it in errors), calling fn
// with each until the stream ends, a line carries an error, or fn fails.
func readLines[L streamLine](ctx context.Context, body io.Reader, what string, fn func(*L) error) error {
	dec := json.NewDecoder(body)
	for {
		var l L
		err := dec.Decode(&l)
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &hashike.Error{Code: hashike.EUnavailable, Message: what + " broke off", Err: err}
		}
		if we := l.streamError(); we != nil {
			return fromWire(0, *we)
		}
		if err := fn(&l); err != nil {
			return err
		}
	}
}

// RunResult opens a run's result (GET /v1/runs/{id}/result); the caller closes it.
func (c *Client) RunResult(ctx context.Context, id string) (api.ResultInfo, io.ReadCloser, error) {
	resp, err := c.send(ctx, "GET", path("/v1/runs/%s/result", id), nil, nil, "")
	if err != nil {
		return api.ResultInfo{}, nil, err
	}
	info := api.ResultInfo{RunID: id, Size: resp.ContentLength, ContentType: resp.Header.Get("Content-Type")}
	if t, err := time.Parse(time.RFC3339Nano, resp.Header.Get("X-Hashike-Result-Created")); err == nil {
		info.CreatedAt = t
	}
	return info, resp.Body, nil
}

// ListQueues returns every queue with its counts.
func (c *Client) ListQueues(ctx context.Context) ([]hashike.QueueInfo, error) {
	var out queueList
	_, err := c.call(ctx, "GET", "/v1/queues", nil, nil, &out)
	return out.Queues, err
}

// RunnersStatus returns the runner controller's last view (GET /v1/runners).
func (c *Client) RunnersStatus(ctx context.Context) (api.RunnersStatus, error) {
	var out api.RunnersStatus
	_, err := c.call(ctx, "GET", "/v1/runners", nil, nil, &out)
	return out, err
}

// CapacityStatus returns the cluster autoscalers' last view (GET /v1/capacity).
func (c *Client) CapacityStatus(ctx context.Context) (api.CapacityStatus, error) {
	var out api.CapacityStatus
	_, err := c.call(ctx, "GET", "/v1/capacity", nil, nil, &out)
	return out, err
}

// PutQueue sets a queue's settings.
func (c *Client) PutQueue(ctx context.Context, q hashike.QueueConfig) (hashike.QueueInfo, error) {
	var out hashike.QueueInfo
	_, err := c.call(ctx, "PUT", path("/v1/queues/%s", q.Name), nil,
		queueBody{MaxConcurrency: q.MaxConcurrency, Paused: q.Paused}, &out)
	return out, err
}

// PauseQueue stops dispatching the queue's runs; ResumeQueue starts again.
func (c *Client) PauseQueue(ctx context.Context, name string) (hashike.QueueInfo, error) {
	var out hashike.QueueInfo
	_, err := c.call(ctx, "POST", path("/v1/queues/%s/pause", name), nil, nil, &out)
	return out, err
}

// ResumeQueue undoes PauseQueue.
func (c *Client) ResumeQueue(ctx context.Context, name string) (hashike.QueueInfo, error) {
	var out hashike.QueueInfo
	_, err := c.call(ctx, "POST", path("/v1/queues/%s/resume", name), nil, nil, &out)
	return out, err
}

// ListSchedules returns every scheduled job's schedule.
func (c *Client) ListSchedules(ctx context.Context) ([]api.ScheduleView, error) {
	var out scheduleList
	_, err := c.call(ctx, "GET", "/v1/schedules", nil, nil, &out)
	return out.Schedules, err
}

// GetSchedule returns a job's schedule.
func (c *Client) GetSchedule(ctx context.Context, job string) (api.ScheduleView, error) {
	var out api.ScheduleView
	_, err := c.call(ctx, "GET", path("/v1/jobs/%s/schedule", job), nil, nil, &out)
	return out, err
}

// Suspend holds back a job's scheduled fires until Resume.
func (c *Client) Suspend(ctx context.Context, job string) (api.ScheduleView, error) {
	var out api.ScheduleView
	_, err := c.call(ctx, "POST", path("/v1/jobs/%s/schedule/suspend", job), nil, nil, &out)
	return out, err
}

// Resume undoes Suspend.
func (c *Client) Resume(ctx context.Context, job string) (api.ScheduleView, error) {
	var out api.ScheduleView
	_, err := c.call(ctx, "POST", path("/v1/jobs/%s/schedule/resume", job), nil, nil, &out)
	return out, err
}

// SetSuspended is Suspend or Resume.
func (c *Client) SetSuspended(ctx context.Context, job string, suspended bool) (api.ScheduleView, error) {
	if suspended {
		return c.Suspend(ctx, job)
	}
	return c.Resume(ctx, job)
}

// Trigger runs a job now, by hand.
func (c *Client) Trigger(ctx context.Context, job string) (*hashike.Run, error) {
	var run *hashike.Run
	_, err := c.call(ctx, "POST", path("/v1/jobs/%s/trigger", job), nil, nil, &run)
	return run, err
}

// CreateToken makes a token; its secret is in the result and nowhere else.
func (c *Client) CreateToken(ctx context.Context, name string, scope hashike.Scope) (api.CreatedToken, error) {
	var out api.CreatedToken
	_, err := c.call(ctx, "POST", "/v1/tokens", nil, tokenBody{Name: name, Scope: scope}, &out)
	return out, err
}

// ListTokens returns every token, revoked ones included (never their secrets).
func (c *Client) ListTokens(ctx context.Context) ([]hashike.Token, error) {
	var out tokenList
	_, err := c.call(ctx, "GET", "/v1/tokens", nil, nil, &out)
	return out.Tokens, err
}

// RevokeToken revokes a token.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	_, err := c.call(ctx, "DELETE", path("/v1/tokens/%s", id), nil, nil, nil)
	return err
}
