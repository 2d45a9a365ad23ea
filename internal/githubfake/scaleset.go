package githubfake

// The runner scale-set API (what github.com/actions/scaleset speaks): a registration token
// from the REST API is swapped at /actions/runner-registration for the Actions service's URL
// and an admin token; under it, scale sets, one message session per scale set (409 on a
// second), a long-polled message queue carrying JobAvailable / JobAssigned / JobStarted /
// JobCompleted messages and statistics, job acquisition and scale-set JIT configs.
//
// The scaleset client derives the REST API from its config URL; for a host that is not
// github.com that is https://HOST/api/v3, so use Options.GHES with a config URL of
// ServerURL()+"/ORG".

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

type scaleSet struct {
	ID      int
	Name    string
	GroupID int
	Labels  []string
	Scope   string
	Owner   string
	session *ssSession
}

type ssSession struct {
	ID      string
	Owner   string
	Token   string
	nextMsg int
	pending []map[string]any // job messages not yet in a message
	out     *ssMessage       // returned until deleted
	wake    chan struct{}
	polled  time.Time // the last poll's time (Options.Now)
}

// dropSession ends a scale set's session as GitHub does when it expires one: its queue
// token no longer works, a poll waiting on it ends, and a new session may be opened. Called
// under f.mu.
func (f *Fake) dropSession(s *scaleSet) {
	if s.session == nil {
		return
	}
	close(s.session.wake)
	s.session = nil
}

// DropScaleSetSessions ends every scale set's session, as GitHub does on a restart of its
// broker: listeners must open a new one. It returns how many it ended.
func (f *Fake) DropScaleSetSessions() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, s := range f.scaleSets {
		if s.session != nil {
			f.dropSession(s)
			n++
		}
	}
	return n
}

// ScaleSetSession returns the owner of the named scale set's session ("" and false when it has
// none).
func (f *Fake) ScaleSetSession(name string) (owner string, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.scaleSets {
		if s.Name == name && s.session != nil {
			return s.session.Owner, true
		}
	}
	return "", false
}

type ssMessage struct {
	ID   int
	Body []map[string]any
}

const actionsPrefix = "/_actions"

func (f *Fake) scaleSetRoutes(mux *http.ServeMux, p string) {
	for _, sc := range []string{"/repos/{owner}/{repo}", "/orgs/{org}", "/enterprises/{enterprise}"} {
		auth := authToken
		if strings.HasPrefix(sc, "/enterprises") {
			auth = authPAT
		}
		mux.HandleFunc("POST "+p+sc+"/actions/runners/registration-token",
			f.api("POST "+sc+"/actions/runners/registration-token", auth, f.registrationToken))
	}
	mux.HandleFunc("POST "+p+"/actions/runner-registration", f.runnerRegistration)
	a := func(pattern string, h func(http.ResponseWriter, *http.Request, time.Time)) {
		method, path, _ := strings.Cut(pattern, " ")
		mux.HandleFunc(method+" "+actionsPrefix+path, f.actions(h))
	}
	a("GET /_apis/runtime/runnergroups/", f.ssGroups)
	a("POST /_apis/runtime/runnerscalesets", f.ssCreate)
	a("GET /_apis/runtime/runnerscalesets", f.ssFind)
	a("GET /_apis/runtime/runnerscalesets/{id}", f.ssGet)
	a("DELETE /_apis/runtime/runnerscalesets/{id}", f.ssDelete)
	a("POST /_apis/runtime/runnerscalesets/{id}/sessions", f.ssSessionCreate)
	a("DELETE /_apis/runtime/runnerscalesets/{id}/sessions/{sid}", f.ssSessionDelete)
	a("PATCH /_apis/runtime/runnerscalesets/{id}/sessions/{sid}", f.ssSessionRefresh)
	a("POST /_apis/runtime/runnerscalesets/{id}/acquirejobs", f.ssAcquire)
	a("POST /_apis/runtime/runnerscalesets/{id}/generatejitconfig", f.ssJIT)
	a("DELETE /_apis/distributedtask/pools/0/agents/{id}", f.ssRemoveRunner)
	mux.HandleFunc("GET "+actionsPrefix+"/_msgqueue/{sid}", f.ssGetMessage)
	mux.HandleFunc("DELETE "+actionsPrefix+"/_msgqueue/{sid}/{mid}", f.ssDeleteMessage)
}

// regToken is a registration token's scope.
type regToken struct {
	scope, owner string
	expires      time.Time
}

func (f *Fake) registrationToken(w http.ResponseWriter, r *http.Request, now time.Time) {
	kind, owner := scopeOf(r)
	tok := "AAAR" + randomHex(14)
	f.regTokens[tok] = regToken{scope: kind, owner: owner, expires: now.Add(time.Hour)}
	writeJSON(w, http.StatusCreated, map[string]any{"token": tok, "expires_at": now.Add(time.Hour).UTC().Format(time.RFC3339)})
}

// runnerRegistration swaps a registration token (Authorization: RemoteAuth TOKEN) for the
// Actions service URL and an admin token (a JWT the client reads exp from).
func (f *Fake) runnerRegistration(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.opts.Now()
	f.calls["POST /actions/runner-registration"]++
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	rt, ok := f.regTokens[tok]
	if scheme != "RemoteAuth" || !ok || !now.Before(rt.expires) {
		writeError(w, http.StatusUnauthorized, "Bad credentials")
		return
	}
	enc := base64.RawURLEncoding.EncodeToString
	claims, _ := json.Marshal(map[string]int64{"exp": now.Add(time.Hour).Unix(), "iat": now.Unix()})
	admin := enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(claims) + "." + randomHex(8)
	f.adminTokens[admin] = rt
	writeJSON(w, http.StatusCreated, map[string]any{"url": f.srv.URL + actionsPrefix + "/", "token": admin})
}

// actions wraps an Actions service handler: admin token (or a session's message queue token
// for acquirejobs) and the lock.
func (f *Fake) actions(h func(http.ResponseWriter, *http.Request, time.Time)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		now := f.opts.Now()
		f.calls[r.Method+" "+r.Pattern[len(r.Method)+1:]]++
		f.sweep(now)
		_, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		_, admin := f.adminTokens[tok]
		sessionTok := false
		for _, s := range f.scaleSets {
			sessionTok = sessionTok || (s.session != nil && s.session.Token == tok)
		}
		if !admin && !sessionTok {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "unauthorized"})
			return
		}
		h(w, r, now)
	}
}

func (f *Fake) ssGroups(w http.ResponseWriter, r *http.Request, now time.Time) {
	name := r.URL.Query().Get("groupName")
	var out []map[string]any
	for _, g := range f.opts.RunnerGroups {
		if strings.EqualFold(g.Name, name) {
			out = append(out, map[string]any{"id": g.ID, "name": g.Name, "isDefaultGroup": g.ID == 1})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(out), "value": out})
}

func (f *Fake) ssJSON(s *scaleSet) map[string]any {
	labels := []map[string]string{}
	for _, l := range s.Labels {
		labels = append(labels, map[string]string{"type": "System", "name": l})
	}
	return map[string]any{"id": s.ID, "name": s.Name, "runnerGroupId": s.GroupID, "runnerGroupName": f.groupName(int64(s.GroupID)),
		"labels": labels, "statistics": f.ssStats(s), "runnerJitConfigUrl": ""}
}

func (f *Fake) ssCreate(w http.ResponseWriter, r *http.Request, now time.Time) {
	var req struct {
		Name          string `json:"name"`
		RunnerGroupID int    `json:"runnerGroupId"`
		Labels        []struct {
			Name string `json:"name"`
		} `json:"labels"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil || req.Name == "" {
		writeError(w, http.StatusBadRequest, "bad scale set")
		return
	}
	_, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	rt := f.adminTokens[tok]
	for _, s := range f.scaleSets {
		if s.Name == req.Name && s.GroupID == max(1, req.RunnerGroupID) && s.Owner == rt.owner {
			writeError(w, http.StatusConflict, "a runner scale set with this name exists")
			return
		}
	}
	s := &scaleSet{ID: int(f.id()), Name: req.Name, GroupID: max(1, req.RunnerGroupID), Scope: rt.scope, Owner: rt.owner}
	for _, l := range req.Labels {
		s.Labels = append(s.Labels, l.Name)
	}
	if len(s.Labels) == 0 {
		s.Labels = []string{s.Name}
	}
	f.scaleSets[s.ID] = s
	writeJSON(w, http.StatusOK, f.ssJSON(s))
}

func (f *Fake) ssFind(w http.ResponseWriter, r *http.Request, now time.Time) {
	q := r.URL.Query()
	gid, _ := strconv.Atoi(q.Get("runnerGroupId"))
	var out []map[string]any
	for _, s := range f.scaleSets {
		if s.Name == q.Get("name") && (gid == 0 || s.GroupID == gid) {
			out = append(out, f.ssJSON(s))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(out), "value": out})
}

func (f *Fake) scaleSetOf(w http.ResponseWriter, r *http.Request) *scaleSet {
	id, _ := strconv.Atoi(r.PathValue("id"))
	s := f.scaleSets[id]
	if s == nil {
		writeError(w, http.StatusNotFound, "runner scale set not found")
	}
	return s
}

func (f *Fake) ssGet(w http.ResponseWriter, r *http.Request, now time.Time) {
	if s := f.scaleSetOf(w, r); s != nil {
		writeJSON(w, http.StatusOK, f.ssJSON(s))
	}
}

func (f *Fake) ssDelete(w http.ResponseWriter, r *http.Request, now time.Time) {
	if s := f.scaleSetOf(w, r); s != nil {
		delete(f.scaleSets, s.ID)
		w.WriteHeader(http.StatusNoContent)
	}
}

func uuidLike() string {
	h := randomHex(16)
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-8" + h[17:20] + "-" + h[20:32]
}

func (f *Fake) sessionJSON(s *scaleSet) map[string]any {
	ss := s.session
	return map[string]any{"sessionId": ss.ID, "ownerName": ss.Owner, "runnerScaleSet": f.ssJSON(s),
		"messageQueueUrl": f.srv.URL + actionsPrefix + "/_msgqueue/" + ss.ID, "messageQueueAccessToken": ss.Token,
		"statistics": f.ssStats(s)}
}

// ssSessionCreate opens the scale set's message session; a second one while it is open is 409,
// as GitHub answers a second listener.
func (f *Fake) ssSessionCreate(w http.ResponseWriter, r *http.Request, now time.Time) {
	s := f.scaleSetOf(w, r)
	if s == nil {
		return
	}
	if s.session != nil && f.opts.ScaleSetSessionTTL > 0 && now.Sub(s.session.polled) >= f.opts.ScaleSetSessionTTL {
		f.dropSession(s) // its listener is gone: GitHub expires an unpolled session
	}
	if s.session != nil {
		writeJSON(w, http.StatusConflict, map[string]string{"typeName": "TaskAgentSessionConflictException",
			"message": "The actions runner scale set " + s.Name + " already has an active session for owner " + s.session.Owner + "."})
		return
	}
	var req struct {
		OwnerName string `json:"ownerName"`
	}
	_ = json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req)
	s.session = &ssSession{ID: uuidLike(), Owner: req.OwnerName, Token: randomHex(20), wake: make(chan struct{}), polled: now}
	// Jobs already queued are announced to the new session.
	for _, id := range f.jobOrder {
		if j := f.jobs[id]; j.Status == "queued" && j.AcquiredBy == 0 && f.ssMatches(s, j) {
			f.ssPush(s, f.jobMessage("JobAvailable", j))
		}
	}
	writeJSON(w, http.StatusOK, f.sessionJSON(s))
}

func (f *Fake) ssSessionDelete(w http.ResponseWriter, r *http.Request, now time.Time) {
	s := f.scaleSetOf(w, r)
	if s == nil {
		return
	}
	if s.session == nil || s.session.ID != r.PathValue("sid") {
		writeError(w, http.StatusNotFound, "session not found")
		return
	}
	f.dropSession(s)
	w.WriteHeader(http.StatusNoContent)
}

func (f *Fake) ssSessionRefresh(w http.ResponseWriter, r *http.Request, now time.Time) {
	s := f.scaleSetOf(w, r)
	if s == nil {
		return
	}
	if s.session == nil || s.session.ID != r.PathValue("sid") {
		writeError(w, http.StatusNotFound, "session not found")
		return
	}
	s.session.Token = randomHex(20)
	writeJSON(w, http.StatusOK, f.sessionJSON(s))
}

// ssMatches: a scale set takes jobs whose runs-on labels it has (its name by default).
func (f *Fake) ssMatches(s *scaleSet, j *Job) bool {
	r := &Runner{Scope: s.Scope, Owner: s.Owner}
	return visible(r, j.Repo) && superset(s.Labels, j.Labels)
}

func (f *Fake) jobMessage(kind string, j *Job) map[string]any {
	owner, repo, _ := strings.Cut(j.Repo, "/")
	m := map[string]any{"messageType": kind, "runnerRequestId": j.ID, "repositoryName": repo, "ownerName": owner,
		"jobId": strconv.FormatInt(j.ID, 10), "jobDisplayName": j.Name, "workflowRunId": j.RunID, "eventName": "push",
		"requestLabels": j.Labels, "queueTime": j.CreatedAt.UTC().Format(time.RFC3339Nano)}
	if !j.AcquiredAt.IsZero() {
		m["scaleSetAssignTime"] = j.AcquiredAt.UTC().Format(time.RFC3339Nano)
	}
	if !j.StartedAt.IsZero() {
		m["runnerAssignTime"] = j.StartedAt.UTC().Format(time.RFC3339Nano)
		m["runnerId"], m["runnerName"] = j.RunnerID, j.RunnerName
	}
	if !j.CompletedAt.IsZero() {
		m["finishTime"] = j.CompletedAt.UTC().Format(time.RFC3339Nano)
		m["result"] = j.Conclusion
	}
	if kind == "JobAvailable" {
		m["acquireJobUrl"] = ""
	}
	return m
}

func (f *Fake) ssPush(s *scaleSet, m map[string]any) {
	if s.session == nil {
		return
	}
	s.session.pending = append(s.session.pending, m)
	close(s.session.wake)
	s.session.wake = make(chan struct{})
}

// scaleSetEvent tells the scale sets about a job's change. Called under f.mu.
func (f *Fake) scaleSetEvent(kind string, j *Job) {
	if kind == "JobAvailable" {
		for _, s := range f.scaleSets {
			if f.ssMatches(s, j) {
				f.ssPush(s, f.jobMessage(kind, j))
			}
		}
		return
	}
	if s := f.scaleSets[j.AcquiredBy]; s != nil {
		f.ssPush(s, f.jobMessage(kind, j))
	}
}

func (f *Fake) ssStats(s *scaleSet) map[string]int {
	st := map[string]int{}
	for _, j := range f.jobs {
		switch {
		case j.Status == "queued" && j.AcquiredBy == 0 && f.ssMatches(s, j):
			st["totalAvailableJobs"]++
		case j.AcquiredBy == s.ID && j.Status == "queued":
			st["totalAcquiredJobs"]++
			st["totalAssignedJobs"]++
		case j.AcquiredBy == s.ID && j.Status == "in_progress":
			st["totalAssignedJobs"]++
			st["totalRunningJobs"]++
		}
	}
	for _, r := range f.runners {
		if r.ScaleSetID != s.ID || !r.Registered {
			continue
		}
		st["totalRegisteredRunners"]++
		if r.Busy {
			st["totalBusyRunners"]++
		} else if r.Online {
			st["totalIdleRunners"]++
		}
	}
	for _, k := range []string{"totalAvailableJobs", "totalAcquiredJobs", "totalAssignedJobs", "totalRunningJobs", "totalRegisteredRunners", "totalBusyRunners", "totalIdleRunners"} {
		st[k] += 0
	}
	return st
}

func (f *Fake) sessionByID(sid, tok string) *scaleSet {
	for _, s := range f.scaleSets {
		if s.session != nil && s.session.ID == sid && s.session.Token == tok {
			return s
		}
	}
	return nil
}

// ssGetMessage long-polls (Options.ScaleSetPollWait, 2 s by default) for the session's next
// message: 200 with it, 202 when none came. A message is returned again until deleted.
func (f *Fake) ssGetMessage(w http.ResponseWriter, r *http.Request) {
	_, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	deadline := time.NewTimer(f.opts.ScaleSetPollWait)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		f.calls["GET /_msgqueue/{sid}"]++
		s := f.sessionByID(r.PathValue("sid"), tok)
		if s == nil {
			f.mu.Unlock()
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "message queue token expired"})
			return
		}
		ss := s.session
		ss.polled = f.opts.Now()
		if ss.out == nil && len(ss.pending) > 0 {
			ss.nextMsg++
			ss.out = &ssMessage{ID: ss.nextMsg, Body: ss.pending}
			ss.pending = nil
		}
		if ss.out != nil {
			body, _ := json.Marshal(ss.out.Body)
			resp := map[string]any{"messageId": ss.out.ID, "messageType": "RunnerScaleSetJobMessages",
				"body": string(body), "statistics": f.ssStats(s)}
			f.mu.Unlock()
			writeJSON(w, http.StatusOK, resp)
			return
		}
		wake := ss.wake
		f.mu.Unlock()
		select {
		case <-wake: // a message, or the session was dropped (the next turn answers 401)
		case <-deadline.C:
			w.WriteHeader(http.StatusAccepted)
			return
		case <-r.Context().Done():
			return
		}
	}
}

func (f *Fake) ssDeleteMessage(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	s := f.sessionByID(r.PathValue("sid"), tok)
	if s == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "message queue token expired"})
		return
	}
	mid, _ := strconv.Atoi(r.PathValue("mid"))
	if s.session.out != nil && s.session.out.ID == mid {
		s.session.out = nil
	}
	w.WriteHeader(http.StatusNoContent)
}

// ssAcquire acquires queued jobs for the scale set; it answers the ids it got (a job another
// scale set acquired first is left out).
func (f *Fake) ssAcquire(w http.ResponseWriter, r *http.Request, now time.Time) {
	s := f.scaleSetOf(w, r)
	if s == nil {
		return
	}
	var ids []int64
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&ids); err != nil {
		writeError(w, http.StatusBadRequest, "bad job ids")
		return
	}
	got := []int64{}
	for _, id := range ids {
		j := f.jobs[id]
		if j == nil || j.Status != "queued" || (j.AcquiredBy != 0 && j.AcquiredBy != s.ID) || !f.ssMatches(s, j) {
			continue
		}
		if j.AcquiredBy == 0 {
			j.AcquiredBy, j.AcquiredAt = s.ID, now
			f.scaleSetEvent("JobAssigned", j)
		}
		got = append(got, id)
	}
	f.assign(now)
	writeJSON(w, http.StatusOK, map[string]any{"count": len(got), "value": got})
}

// ssJIT creates a runner of the scale set (its labels, listed offline until it registers).
func (f *Fake) ssJIT(w http.ResponseWriter, r *http.Request, now time.Time) {
	s := f.scaleSetOf(w, r)
	if s == nil {
		return
	}
	var req struct {
		Name string `json:"name"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil || req.Name == "" {
		writeError(w, http.StatusBadRequest, "bad runner setting")
		return
	}
	for _, x := range f.runners {
		if x.Name == req.Name && x.Owner == s.Owner {
			writeJSON(w, http.StatusConflict, map[string]string{"typeName": "AgentExistsException", "message": "runner exists"})
			return
		}
	}
	rn := &Runner{ID: f.id(), Name: req.Name, Labels: s.Labels, Scope: s.Scope, Owner: s.Owner, GroupID: int64(s.GroupID),
		CreatedAt: now, OfflineAt: now, ScaleSetID: s.ID}
	f.runners[rn.ID] = rn
	encoded := f.newJITSecret(rn)
	writeJSON(w, http.StatusOK, map[string]any{
		"runner":           map[string]any{"id": rn.ID, "name": rn.Name, "runnerScaleSetId": s.ID},
		"encodedJITConfig": encoded,
	})
}

// ssRemoveRunner deregisters a runner through the Actions service: 404 AgentNotFoundException
// for an unknown one, 400 JobStillRunningException for a busy one.
func (f *Fake) ssRemoveRunner(w http.ResponseWriter, r *http.Request, now time.Time) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	x := f.runners[id]
	switch {
	case x == nil:
		writeJSON(w, http.StatusNotFound, map[string]string{"typeName": "AgentNotFoundException", "message": "runner not found"})
	case x.Busy:
		writeJSON(w, http.StatusBadRequest, map[string]string{"typeName": "JobStillRunningException", "message": "job still running"})
	default:
		f.removeRunner(x)
		w.WriteHeader(http.StatusNoContent)
	}
}
