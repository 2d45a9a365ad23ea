package githubfake

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const secondaryDocURL = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"

type authKind int

const (
	authToken authKind = iota // installation token or PAT
	authPAT                   // PAT only (enterprise endpoints)
	authJWT                   // App JWT
)

func (f *Fake) routes() http.Handler {
	mux := http.NewServeMux()
	p := ""
	if f.opts.GHES {
		p = "/api/v3"
	}
	api := func(method, route string, auth authKind, h func(http.ResponseWriter, *http.Request, time.Time)) {
		mux.HandleFunc(method+" "+p+route, f.api(method+" "+route, auth, h))
	}
	api("POST", "/app/installations/{id}/access_tokens", authJWT, f.accessToken)
	api("GET", "/rate_limit", authToken, f.rateLimit)
	for _, sc := range []struct {
		prefix string
		auth   authKind
	}{
		{"/repos/{owner}/{repo}", authToken},
		{"/orgs/{org}", authToken},
		{"/enterprises/{enterprise}", authPAT},
	} {
		api("POST", sc.prefix+"/actions/runners/generate-jitconfig", sc.auth, f.generateJIT)
		api("GET", sc.prefix+"/actions/runners", sc.auth, f.listRunners)
		api("GET", sc.prefix+"/actions/runners/{id}", sc.auth, f.getRunner)
		api("DELETE", sc.prefix+"/actions/runners/{id}", sc.auth, f.deleteRunner)
	}
	api("GET", "/orgs/{org}/actions/runner-groups", authToken, f.listGroups)
	api("GET", "/enterprises/{enterprise}/actions/runner-groups", authPAT, f.listGroups)
	api("GET", "/repos/{owner}/{repo}/actions/runs", authToken, f.listRuns)
	api("GET", "/repos/{owner}/{repo}/actions/runs/{id}/jobs", authToken, f.listRunJobs)
	api("GET", "/repos/{owner}/{repo}/actions/jobs/{id}", authToken, f.getJob)

	f.scaleSetRoutes(mux, p)

	mux.HandleFunc("POST /_fake/runner/register", f.runnerRegister)
	mux.HandleFunc("POST /_fake/runner/acquire", f.runnerAcquire)
	mux.HandleFunc("POST /_fake/runner/hold", f.runnerHold)
	mux.HandleFunc("POST /_fake/runner/complete", f.runnerComplete)
	mux.HandleFunc("POST /_fake/runner/exit", f.runnerExit)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "Not Found")
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"message": msg, "documentation_url": "https://docs.github.com/rest"})
}

// api wraps a handler with the call count, authentication, the primary rate limit and its
// headers, all under the fake's lock.
func (f *Fake) api(route string, auth authKind, h func(http.ResponseWriter, *http.Request, time.Time)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		now := f.opts.Now()
		f.calls[route]++
		f.sweep(now)
		if status, msg := f.authenticate(r, auth, now); status != 0 {
			writeError(w, status, msg)
			return
		}
		if auth != authJWT {
			if !now.Before(f.coreReset) {
				f.coreUsed, f.coreReset = 0, now.Add(time.Hour)
			}
			f.setRateHeaders(w)
			if f.coreUsed >= f.opts.CoreLimit {
				writeError(w, http.StatusForbidden, "API rate limit exceeded for installation.")
				return
			}
			f.coreUsed++
			f.setRateHeaders(w)
			if !f.secondary(w, route, r.Method, now) {
				return
			}
		}
		h(w, r, now)
	}
}

// secondary charges a request to its route's secondary rate limit bucket (GET 1 point, other
// methods 5, SecondaryPoints per SecondaryWindow per route) and answers the refusal, with
// Retry-After, when the bucket is empty.
func (f *Fake) secondary(w http.ResponseWriter, route, method string, now time.Time) bool {
	b := f.sec[route]
	if b == nil || !now.Before(b.reset) {
		b = &bucket{reset: now.Add(f.opts.SecondaryWindow)}
		f.sec[route] = b
	}
	cost := 5
	if method == http.MethodGet {
		cost = 1
	}
	if b.used+cost > f.opts.SecondaryPoints {
		wait := int(math.Ceil(b.reset.Sub(now).Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(max(1, wait)))
		writeJSON(w, f.opts.SecondaryStatus, map[string]string{
			"message":           "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
			"documentation_url": secondaryDocURL,
		})
		return false
	}
	b.used += cost
	return true
}

type bucket struct {
	used  int
	reset time.Time
}

func (f *Fake) setRateHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(f.opts.CoreLimit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(0, f.opts.CoreLimit-f.coreUsed)))
	h.Set("X-RateLimit-Used", strconv.Itoa(f.coreUsed))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(f.coreReset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
}

// SetCoreRemaining sets the primary rate limit's remaining requests in the current window.
func (f *Fake) SetCoreRemaining(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.opts.Now()
	if !now.Before(f.coreReset) {
		f.coreReset = now.Add(time.Hour)
	}
	f.coreUsed = f.opts.CoreLimit - n
}

func (f *Fake) authenticate(r *http.Request, kind authKind, now time.Time) (int, string) {
	h := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	if cred == "" || !(strings.EqualFold(scheme, "bearer") || strings.EqualFold(scheme, "token")) {
		return http.StatusUnauthorized, "Requires authentication"
	}
	if kind == authJWT {
		if err := f.verifyJWT(cred, now); err != nil {
			return http.StatusUnauthorized, "A JSON web token could not be decoded"
		}
		return 0, ""
	}
	for _, p := range f.opts.PATs {
		if p == cred {
			return 0, ""
		}
	}
	t, ok := f.tokens[cred]
	if !ok || !now.Before(t.expires) {
		return http.StatusUnauthorized, "Bad credentials"
	}
	if kind == authPAT {
		return http.StatusForbidden, "Resource not accessible by integration"
	}
	return 0, ""
}

// verifyJWT checks an App JWT: RS256 signed by AppKey, iss = AppID, not expired, at most 10 min.
func (f *Fake) verifyJWT(tok string, now time.Time) error {
	if f.opts.AppKey == nil {
		return fmt.Errorf("no app configured")
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return fmt.Errorf("malformed")
	}
	var hdr struct{ Alg string }
	if err := decodeSegment(parts[0], &hdr); err != nil || hdr.Alg != "RS256" {
		return fmt.Errorf("bad header")
	}
	var claims struct {
		Iss json.RawMessage `json:"iss"`
		Iat int64           `json:"iat"`
		Exp int64           `json:"exp"`
	}
	if err := decodeSegment(parts[1], &claims); err != nil {
		return err
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(f.opts.AppKey, crypto.SHA256, sum[:], sig); err != nil {
		return err
	}
	if strings.Trim(string(claims.Iss), `"`) != strconv.FormatInt(f.opts.AppID, 10) {
		return fmt.Errorf("wrong issuer")
	}
	if claims.Exp-claims.Iat > 600+60 {
		return fmt.Errorf("too long")
	}
	return nil
}

func decodeSegment(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (f *Fake) accessToken(w http.ResponseWriter, r *http.Request, now time.Time) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	known := false
	for _, i := range f.opts.Installations {
		known = known || i == id
	}
	if !known {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	tok := "ghs_" + randomHex(18)
	exp := now.Add(f.opts.TokenTTL)
	f.tokens[tok] = token{installation: id, expires: exp}
	writeJSON(w, http.StatusCreated, map[string]any{
		"token":                tok,
		"expires_at":           exp.UTC().Format(time.RFC3339),
		"permissions":          map[string]string{"organization_self_hosted_runners": "write", "administration": "write", "actions": "read"},
		"repository_selection": "all",
	})
}

// TokensIssued is the number of installation tokens the fake has issued.
func (f *Fake) TokensIssued() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.tokens)
}

func (f *Fake) rateLimit(w http.ResponseWriter, r *http.Request, now time.Time) {
	core := map[string]int64{"limit": int64(f.opts.CoreLimit), "remaining": int64(max(0, f.opts.CoreLimit-f.coreUsed)),
		"used": int64(f.coreUsed), "reset": f.coreReset.Unix()}
	reg := map[string]int64{"limit": int64(f.opts.RegistrationLimit), "remaining": int64(max(0, f.opts.RegistrationLimit-f.regUsed)),
		"used": int64(f.regUsed), "reset": f.coreReset.Unix()}
	writeJSON(w, http.StatusOK, map[string]any{
		"resources": map[string]any{"core": core, "actions_runner_registration": reg},
		"rate":      core,
	})
}

// scopeOf returns the scope kind and owner of a request's path.
func scopeOf(r *http.Request) (string, string) {
	switch {
	case r.PathValue("repo") != "":
		return ScopeRepo, r.PathValue("owner") + "/" + r.PathValue("repo")
	case r.PathValue("org") != "":
		return ScopeOrg, r.PathValue("org")
	default:
		return ScopeEnterprise, r.PathValue("enterprise")
	}
}

type jitRequest struct {
	Name          string   `json:"name"`
	RunnerGroupID int64    `json:"runner_group_id"`
	Labels        []string `json:"labels"`
	WorkFolder    string   `json:"work_folder"`
}

// JITConfig is what the fake encodes (base64 JSON) as encoded_jit_config. The real one is an
// opaque runner settings blob; the fake runner program decodes this one to find the fake.
type JITConfig struct {
	URL      string `json:"url"`
	RunnerID int64  `json:"runner_id"`
	Name     string `json:"name"`
	Secret   string `json:"secret"`
}

func (f *Fake) generateJIT(w http.ResponseWriter, r *http.Request, now time.Time) {
	var req jitRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	if req.Name == "" || len(req.Labels) == 0 || len(req.Labels) > 100 || req.RunnerGroupID < 1 {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed")
		return
	}
	known := false
	for _, g := range f.opts.RunnerGroups {
		known = known || g.ID == req.RunnerGroupID
	}
	if !known {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	kind, owner := scopeOf(r)
	for _, x := range f.runners {
		if x.Scope == kind && strings.EqualFold(x.Owner, owner) && x.Name == req.Name {
			writeError(w, http.StatusConflict, "Already exists - A runner with the name "+req.Name+" already exists.")
			return
		}
	}
	f.regUsed++
	rn := &Runner{ID: f.id(), Name: req.Name, Labels: req.Labels, Scope: kind, Owner: owner, GroupID: req.RunnerGroupID, CreatedAt: now, OfflineAt: now}
	f.runners[rn.ID] = rn
	writeJSON(w, http.StatusCreated, map[string]any{
		"runner":             runnerJSON(rn),
		"encoded_jit_config": f.newJITSecret(rn),
	})
}

// newJITSecret makes rn's single-use encoded JIT config.
func (f *Fake) newJITSecret(rn *Runner) string {
	secret := randomHex(16)
	f.jitSecrets[secret] = rn.ID
	base := f.opts.RunnerURL
	if base == "" {
		base = f.srv.URL
	}
	blob, _ := json.Marshal(JITConfig{URL: base, RunnerID: rn.ID, Name: rn.Name, Secret: secret})
	return base64.StdEncoding.EncodeToString(blob)
}

func (f *Fake) listGroups(w http.ResponseWriter, r *http.Request, now time.Time) {
	gs := f.opts.RunnerGroups
	lo, hi := paginate(w, r, len(gs))
	out := []map[string]any{}
	for _, g := range gs[lo:hi] {
		out = append(out, map[string]any{"id": g.ID, "name": g.Name, "visibility": "all", "default": g.ID == 1})
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(gs), "runner_groups": out})
}

func runnerJSON(r *Runner) map[string]any {
	labels := make([]map[string]any, len(r.Labels))
	for i, l := range r.Labels {
		labels[i] = map[string]any{"id": i + 1, "name": l, "type": "custom"}
	}
	return map[string]any{
		"id": r.ID, "name": r.Name, "os": "Linux", "status": r.Status(), "busy": r.Busy,
		"ephemeral": true, "labels": labels, "runner_group_id": r.GroupID,
	}
}

// page reads per_page (default 30, at most 100) and page (from 1).
func page(r *http.Request) (perPage, pageNo int) {
	perPage, _ = strconv.Atoi(r.URL.Query().Get("per_page"))
	if perPage <= 0 {
		perPage = 30
	}
	perPage = min(perPage, 100)
	pageNo, _ = strconv.Atoi(r.URL.Query().Get("page"))
	return perPage, max(pageNo, 1)
}

// paginate slices n items and sets the Link header as GitHub does.
func paginate(w http.ResponseWriter, r *http.Request, n int) (lo, hi int) {
	perPage, p := page(r)
	last := max(1, (n+perPage-1)/perPage)
	link := func(pg int, rel string) string {
		u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path}
		if r.TLS != nil {
			u.Scheme = "https"
		}
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(pg))
		q.Set("per_page", strconv.Itoa(perPage))
		u.RawQuery = q.Encode()
		return fmt.Sprintf(`<%s>; rel="%s"`, u.String(), rel)
	}
	var links []string
	if p < last {
		links = append(links, link(p+1, "next"), link(last, "last"))
	}
	if p > 1 {
		links = append(links, link(1, "first"), link(p-1, "prev"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	lo = min(n, (p-1)*perPage)
	return lo, min(n, lo+perPage)
}

func (f *Fake) listRunners(w http.ResponseWriter, r *http.Request, now time.Time) {
	kind, owner := scopeOf(r)
	name := r.URL.Query().Get("name")
	list := f.runnerList(func(x *Runner) bool {
		return x.Scope == kind && strings.EqualFold(x.Owner, owner) && (name == "" || x.Name == name)
	})
	lo, hi := paginate(w, r, len(list))
	out := make([]map[string]any, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, runnerJSON(&list[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(list), "runners": out})
}

func (f *Fake) scopedRunner(w http.ResponseWriter, r *http.Request) *Runner {
	kind, owner := scopeOf(r)
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	x := f.runners[id]
	if x == nil || x.Scope != kind || !strings.EqualFold(x.Owner, owner) {
		writeError(w, http.StatusNotFound, "Not Found")
		return nil
	}
	return x
}

func (f *Fake) getRunner(w http.ResponseWriter, r *http.Request, now time.Time) {
	if x := f.scopedRunner(w, r); x != nil {
		writeJSON(w, http.StatusOK, runnerJSON(x))
	}
}

func (f *Fake) deleteRunner(w http.ResponseWriter, r *http.Request, now time.Time) {
	x := f.scopedRunner(w, r)
	if x == nil {
		return
	}
	if x.Busy {
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("Bad request - Runner %q is still running a job\"", x.Name))
		return
	}
	f.removeRunner(x)
	w.WriteHeader(http.StatusNoContent)
}

// runStatus is GitHub's: queued until a job starts, completed when every job is, else in_progress.
func (f *Fake) runStatus(run *workflowRun) string {
	started, done := false, true
	for _, id := range run.Jobs {
		j := f.jobs[id]
		started = started || j.Status != "queued"
		done = done && j.Status == "completed"
	}
	switch {
	case done:
		return "completed"
	case started:
		return "in_progress"
	}
	return "queued"
}

func (f *Fake) listRuns(w http.ResponseWriter, r *http.Request, now time.Time) {
	repo := r.PathValue("owner") + "/" + r.PathValue("repo")
	status := r.URL.Query().Get("status")
	var runs []map[string]any
	for i := len(f.runOrder) - 1; i >= 0; i-- { // newest first, as GitHub lists them
		run := f.runs[f.runOrder[i]]
		st := f.runStatus(run)
		if !strings.EqualFold(run.Repo, repo) || (status != "" && status != st) {
			continue
		}
		runs = append(runs, map[string]any{"id": run.ID, "status": st, "name": "ci",
			"created_at": run.CreatedAt.UTC().Format(time.RFC3339), "repository": repoJSON(run.Repo)})
	}
	lo, hi := paginate(w, r, len(runs))
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(runs), "workflow_runs": append([]map[string]any{}, runs[lo:hi]...)})
}

func (f *Fake) listRunJobs(w http.ResponseWriter, r *http.Request, now time.Time) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	run := f.runs[id]
	if run == nil || !strings.EqualFold(run.Repo, r.PathValue("owner")+"/"+r.PathValue("repo")) {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	lo, hi := paginate(w, r, len(run.Jobs))
	jobs := []map[string]any{}
	for _, jid := range run.Jobs[lo:hi] {
		jobs = append(jobs, f.jobJSON(f.jobs[jid]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(run.Jobs), "jobs": jobs})
}

func (f *Fake) getJob(w http.ResponseWriter, r *http.Request, now time.Time) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	j := f.jobs[id]
	if j == nil || !strings.EqualFold(j.Repo, r.PathValue("owner")+"/"+r.PathValue("repo")) {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, f.jobJSON(j))
}

func timeOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func nonZero[T comparable](v T) any {
	var zero T
	if v == zero {
		return nil
	}
	return v
}

func (f *Fake) jobJSON(j *Job) map[string]any {
	return map[string]any{
		"id": j.ID, "run_id": j.RunID, "run_attempt": 1, "name": j.Name, "workflow_name": "ci", "head_branch": "main",
		"labels": j.Labels, "status": j.Status, "conclusion": nonZero(j.Conclusion),
		"created_at": timeOrNil(j.CreatedAt), "started_at": timeOrNil(j.StartedAt), "completed_at": timeOrNil(j.CompletedAt),
		"runner_id": nonZero(j.RunnerID), "runner_name": nonZero(j.RunnerName),
		"runner_group_id": nonZero(j.RunnerGroup), "runner_group_name": nonZero(f.groupName(j.RunnerGroup)),
		"steps": []any{},
	}
}

func (f *Fake) groupName(id int64) string {
	for _, g := range f.opts.RunnerGroups {
		if g.ID == id {
			return g.Name
		}
	}
	return ""
}

func repoJSON(repo string) map[string]any {
	owner, name, _ := strings.Cut(repo, "/")
	return map[string]any{"name": name, "full_name": repo, "owner": map[string]any{"login": owner}}
}
