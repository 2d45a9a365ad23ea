// Package githubfake is a stateful fake of the parts of GitHub's REST API that hashike's runner
// controller relies on, served by an httptest.Server: App installation tokens and PATs,
// generate-jitconfig at repository, organization and enterprise scope with the primary and
// secondary rate limits, self-hosted runners (list with pagination, get, delete), workflow runs
// and jobs, and signed workflow_job webhook deliveries that tests can lose, duplicate or reorder.
//
// It also plays GitHub's side of a runner: a runner registers with its JIT config, goes online,
// is given one job, reports completion and is removed (ephemeral). Jobs go to ANY idle online
// runner whose labels are a superset of the job's labels, as GitHub does (job stealing), and a
// job queued for 24 hours fails. Offline runners stay listed until deleted (ghosts).
//
// It serves the runner scale-set API too (scaleset.go): scale sets, one message session per
// scale set (409 on a second), long-polled job messages with statistics, job acquisition.
//
// Paths are GitHub.com's (https://api.github.com/...) or, with Options.GHES, GitHub Enterprise
// Server's under /api/v3. The fake runner's endpoints live under /_fake/runner/ (not GitHub's
// API: the real runner speaks a private protocol). JSON shapes follow GitHub's REST docs for
// the fields the controller reads. Time comes from Options.Now, so tests can move it (the
// scale-set long poll and held runner connections wait in real time).
//
// Not modelled: webhook redelivery APIs, the "waiting" action (environments), re-run attempts,
// per-installation rate limits (one primary budget for all credentials), runner heartbeats
// other than the fake runner's open connections.
package githubfake

import (
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"
)

// Scope kinds of a runner registration.
const (
	ScopeRepo       = "repo"
	ScopeOrg        = "org"
	ScopeEnterprise = "enterprise"
)

// QueueLimit is how long GitHub keeps a job queued for a self-hosted runner before failing it.
const QueueLimit = 24 * time.Hour

// Options configure a Fake. The zero value is a GitHub.com fake with real time and no auth
// accepted: set PATs or AppID + AppKey.
type Options struct {
	// GHES serves the API under /api/v3 (GitHub Enterprise Server) instead of at the root.
	GHES bool
	// TLS serves HTTPS with a self-signed certificate (see Fake.CertPEM), as a GHES with a
	// private CA.
	TLS bool
	// Now is the fake's clock; time.Now when nil.
	Now func() time.Time
	// Seed makes the choice among matching idle runners reproducible.
	Seed uint64

	// PATs are the personal access tokens accepted. Enterprise endpoints accept only these.
	PATs []string
	// AppID and AppKey accept App JWTs (RS256, iss = AppID) on /app/installations/{id}/access_tokens
	// for Installations.
	AppID         int64
	AppKey        *rsa.PublicKey
	Installations []int64
	// TokenTTL is an installation token's lifetime: 1 h when zero (GitHub's).
	TokenTTL time.Duration

	// CoreLimit is the primary rate limit per hour: 5,000 when zero.
	CoreLimit int
	// SecondaryPoints is the secondary rate limit of each REST route in points per
	// SecondaryWindow (GET costs 1, other methods 5): 900 per minute when zero, i.e. 180 JIT
	// configs or runner deletions a minute.
	SecondaryPoints int
	SecondaryWindow time.Duration
	// SecondaryStatus is the status of a secondary-limit refusal: 403 (GitHub's usual) or 429.
	SecondaryStatus int
	// RegistrationLimit is the actions_runner_registration bucket per hour: 10,000 when zero.
	RegistrationLimit int

	// Webhook, when URL is set, receives signed workflow_job deliveries.
	Webhook WebhookOptions
	// GhostTTL is how long GitHub keeps an offline ephemeral runner listed: 24 h when zero.
	GhostTTL time.Duration
	// RunnerGroups are the runner groups of every org and enterprise, besides Default (id 1).
	// generate-jitconfig refuses another runner_group_id with 404.
	RunnerGroups []RunnerGroup
	// ScaleSetPollWait is how long a scale-set message poll waits before 202: 2 s when zero.
	ScaleSetPollWait time.Duration
	// ScaleSetSessionTTL expires a scale-set session not polled for so long when another
	// listener asks for one (as GitHub does after a listener died); never when zero.
	ScaleSetSessionTTL time.Duration
	// RunnerURL is the base URL written into JIT configs for runners to call (e.g. one reachable
	// from a container); the server's URL when empty.
	RunnerURL string
}

// RunnerGroup is a runner group.
type RunnerGroup struct {
	ID   int64
	Name string
}

// Runner is a self-hosted runner as the fake holds it.
type Runner struct {
	ID      int64
	Name    string
	Labels  []string
	Scope   string // ScopeRepo, ScopeOrg or ScopeEnterprise
	Owner   string // "owner/repo", the org or the enterprise
	GroupID int64
	// Registered is true once the runner connected with its JIT config.
	Registered bool
	Online     bool
	Busy       bool
	JobID      int64
	CreatedAt  time.Time
	OfflineAt  time.Time
	// Polling is true while the runner waits for a job (its connection is open).
	Polling bool
	// ScaleSetID is the scale set the runner belongs to (0: none); it takes only the jobs its
	// scale set acquired.
	ScaleSetID int
}

// Status is "online" or "offline", as GitHub lists it.
func (r Runner) Status() string {
	if r.Online {
		return "online"
	}
	return "offline"
}

// JobSpec describes a workflow job to queue.
type JobSpec struct {
	Repo     string   // "owner/repo"
	Name     string   // job name; "build" when empty
	Labels   []string // runs-on
	Duration time.Duration
	// RunID puts the job into an existing workflow run; a new run when zero.
	RunID int64
}

// Job is a workflow job as the fake holds it.
type Job struct {
	ID          int64
	RunID       int64
	Repo        string
	Name        string
	Labels      []string
	Duration    time.Duration
	Status      string // queued | in_progress | completed
	Conclusion  string // success | failure | cancelled, when completed
	CreatedAt   time.Time
	StartedAt   time.Time
	CompletedAt time.Time
	RunnerID    int64
	RunnerName  string
	RunnerGroup int64
	// AcquiredBy is the scale set that acquired the job (0: none).
	AcquiredBy int
	AcquiredAt time.Time
}

type workflowRun struct {
	ID        int64
	Repo      string
	CreatedAt time.Time
	Jobs      []int64
}

type token struct {
	installation int64
	expires      time.Time
}

// Fake is the stateful fake GitHub. Its methods are safe for concurrent use.
type Fake struct {
	srv  *httptest.Server
	opts Options
	base string // API base URL, with /api/v3 for GHES

	mu         sync.Mutex
	rng        *rand.Rand
	nextID     int64
	runners    map[int64]*Runner
	jitSecrets map[string]int64 // runner credential -> runner id
	jobs       map[int64]*Job
	jobOrder   []int64
	runs       map[int64]*workflowRun
	runOrder   []int64
	tokens     map[string]token
	assigned   map[int64]chan struct{} // runner id -> closed when it gets a job
	released   map[int64]chan struct{} // runner id -> closed when it is removed or goes offline
	changed    chan struct{}           // closed and replaced when a job or runner changes
	calls      map[string]int

	regTokens   map[string]regToken
	adminTokens map[string]regToken
	scaleSets   map[int]*scaleSet

	coreUsed, regUsed int
	coreReset         time.Time
	sec               map[string]*bucket // route -> secondary rate limit bucket

	hooks *hookSender
}

// New starts a fake. Close it when done.
func New(opts Options) *Fake {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TokenTTL == 0 {
		opts.TokenTTL = time.Hour
	}
	if opts.CoreLimit == 0 {
		opts.CoreLimit = 5000
	}
	if opts.SecondaryPoints == 0 {
		opts.SecondaryPoints = 900
	}
	if opts.SecondaryWindow == 0 {
		opts.SecondaryWindow = time.Minute
	}
	if opts.SecondaryStatus == 0 {
		opts.SecondaryStatus = http.StatusForbidden
	}
	if opts.RegistrationLimit == 0 {
		opts.RegistrationLimit = 10000
	}
	if opts.ScaleSetPollWait == 0 {
		opts.ScaleSetPollWait = 2 * time.Second
	}
	if opts.GhostTTL == 0 {
		opts.GhostTTL = 24 * time.Hour
	}
	opts.RunnerGroups = append([]RunnerGroup{{ID: 1, Name: "Default"}}, opts.RunnerGroups...)
	f := &Fake{
		opts:       opts,
		rng:        rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		nextID:     1000,
		runners:    map[int64]*Runner{},
		jitSecrets: map[string]int64{},
		jobs:       map[int64]*Job{},
		runs:       map[int64]*workflowRun{},
		tokens:     map[string]token{},
		assigned:   map[int64]chan struct{}{},
		released:   map[int64]chan struct{}{},
		changed:    make(chan struct{}),
		calls:      map[string]int{},
		sec:        map[string]*bucket{},

		regTokens:   map[string]regToken{},
		adminTokens: map[string]regToken{},
		scaleSets:   map[int]*scaleSet{},
	}
	h := f.routes()
	if opts.TLS {
		f.srv = httptest.NewTLSServer(h)
	} else {
		f.srv = httptest.NewServer(h)
	}
	f.base = f.srv.URL
	if opts.GHES {
		f.base += "/api/v3"
	}
	f.hooks = newHookSender(opts.Webhook, f.srv.Client())
	return f
}

// Close stops the server and the webhook sender.
func (f *Fake) Close() {
	f.hooks.close()
	f.srv.Close()
}

// URL is the REST API base URL: the server's root for GitHub.com, .../api/v3 for GHES.
func (f *Fake) URL() string { return f.base }

// ServerURL is the server's root URL (the fake runner's endpoints live under it).
func (f *Fake) ServerURL() string { return f.srv.URL }

// CertPEM is the server certificate in PEM form when Options.TLS is set (a private CA bundle).
func (f *Fake) CertPEM() []byte {
	if f.srv.TLS == nil || len(f.srv.TLS.Certificates) == 0 {
		return nil
	}
	var b []byte
	for _, der := range f.srv.TLS.Certificates[0].Certificate {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return b
}

// CertPool is a pool holding CertPEM, for clients in tests.
func (f *Fake) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(f.CertPEM())
	return p
}

// HTTPClient is a client that trusts the fake (plain for http, the certificate for TLS).
func (f *Fake) HTTPClient() *http.Client {
	if !f.opts.TLS {
		return &http.Client{}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.CertPool()}}}
}

// Calls is how many API requests matched route, e.g. "POST /orgs/{org}/actions/runners/generate-jitconfig"
// (GHES prefix excluded); requests refused for auth or rate limits count too.
func (f *Fake) Calls(route string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[route]
}

// TotalCalls is the number of API requests of all routes (the fake runner's calls excluded).
func (f *Fake) TotalCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		n += c
	}
	return n
}

func (f *Fake) id() int64 {
	f.nextID++
	return f.nextID
}

// QueueJob adds a queued workflow job (and its run), sends its "queued" webhook and assigns it
// to an idle matching runner if there is one.
func (f *Fake) QueueJob(spec JobSpec) Job {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.opts.Now()
	f.sweep(now)
	if spec.Name == "" {
		spec.Name = "build"
	}
	run := f.runs[spec.RunID]
	if run == nil {
		run = &workflowRun{ID: f.id(), Repo: spec.Repo, CreatedAt: now}
		f.runs[run.ID] = run
		f.runOrder = append(f.runOrder, run.ID)
	}
	j := &Job{ID: f.id(), RunID: run.ID, Repo: run.Repo, Name: spec.Name, Labels: slices.Clone(spec.Labels),
		Duration: spec.Duration, Status: "queued", CreatedAt: now}
	run.Jobs = append(run.Jobs, j.ID)
	f.jobs[j.ID] = j
	f.jobOrder = append(f.jobOrder, j.ID)
	f.hooks.send(f.jobEvent("queued", j))
	f.scaleSetEvent("JobAvailable", j)
	f.assign(now)
	return *j
}

// CancelJob completes a queued or running job with conclusion "cancelled".
func (f *Fake) CancelJob(id int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	j := f.jobs[id]
	if j == nil || j.Status == "completed" {
		return false
	}
	now := f.opts.Now()
	if r := f.runners[j.RunnerID]; r != nil && j.Status == "in_progress" {
		f.removeRunner(r)
	}
	f.complete(j, "cancelled", now)
	return true
}

// Job returns a job's current state.
func (f *Fake) Job(id int64) (Job, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sweep(f.opts.Now())
	j := f.jobs[id]
	if j == nil {
		return Job{}, false
	}
	return *j, true
}

// Jobs returns every job in creation order.
func (f *Fake) Jobs() []Job {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sweep(f.opts.Now())
	out := make([]Job, 0, len(f.jobOrder))
	for _, id := range f.jobOrder {
		out = append(out, *f.jobs[id])
	}
	return out
}

// Runners returns the listed runners ordered by id.
func (f *Fake) Runners() []Runner {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sweep(f.opts.Now())
	return f.runnerList(func(*Runner) bool { return true })
}

// Runner returns a listed runner.
func (f *Fake) Runner(id int64) (Runner, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sweep(f.opts.Now())
	r := f.runners[id]
	if r == nil {
		return Runner{}, false
	}
	return *r, true
}

func (f *Fake) runnerList(keep func(*Runner) bool) []Runner {
	out := []Runner{}
	for _, r := range f.runners {
		if keep(r) {
			out = append(out, *r)
		}
	}
	slices.SortFunc(out, func(a, b Runner) int { return int(a.ID - b.ID) })
	return out
}

// Tick applies the passage of time: jobs queued longer than QueueLimit fail, offline runners
// past GhostTTL disappear. Every API call does this too.
func (f *Fake) Tick() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sweep(f.opts.Now())
}

func (f *Fake) sweep(now time.Time) {
	for _, id := range f.jobOrder {
		j := f.jobs[id]
		if j.Status == "queued" && now.Sub(j.CreatedAt) >= QueueLimit {
			f.complete(j, "failure", now)
		}
	}
	for _, r := range f.runners {
		if !r.Online && !r.OfflineAt.IsZero() && now.Sub(r.OfflineAt) >= f.opts.GhostTTL {
			f.removeRunner(r)
		}
	}
}

func (f *Fake) jobChanged() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *Fake) complete(j *Job, conclusion string, now time.Time) {
	defer f.jobChanged()
	j.Status, j.Conclusion, j.CompletedAt = "completed", conclusion, now
	f.hooks.send(f.jobEvent("completed", j))
	f.scaleSetEvent("JobCompleted", j)
}

func (f *Fake) removeRunner(r *Runner) {
	defer f.jobChanged()
	delete(f.runners, r.ID)
	for s, id := range f.jitSecrets {
		if id == r.ID {
			delete(f.jitSecrets, s)
		}
	}
	if c, ok := f.assigned[r.ID]; ok {
		close(c)
		delete(f.assigned, r.ID)
	}
	if c, ok := f.released[r.ID]; ok {
		close(c)
		delete(f.released, r.ID)
	}
}

// visible reports whether a runner registered at its scope can take a job of repo.
func visible(r *Runner, repo string) bool {
	switch r.Scope {
	case ScopeRepo:
		return strings.EqualFold(r.Owner, repo)
	case ScopeOrg:
		owner, _, _ := strings.Cut(repo, "/")
		return strings.EqualFold(r.Owner, owner)
	default:
		return true
	}
}

// superset reports whether have contains every label of want, case-insensitively.
func superset(have, want []string) bool {
	for _, w := range want {
		if !slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, w) }) {
			return false
		}
	}
	return true
}

// assign gives queued jobs, oldest first, to random idle online runners whose labels are a
// superset of the job's: GitHub does not bind a job to the runner created for it. A job a
// scale set acquired goes only to that scale set's runners, and they take no other job.
func (f *Fake) assign(now time.Time) {
	for _, id := range f.jobOrder {
		j := f.jobs[id]
		if j.Status != "queued" {
			continue
		}
		var idle []*Runner
		for _, r := range f.runners {
			if r.Online && !r.Busy && r.ScaleSetID == j.AcquiredBy && visible(r, j.Repo) && superset(r.Labels, j.Labels) {
				idle = append(idle, r)
			}
		}
		if len(idle) == 0 {
			continue
		}
		slices.SortFunc(idle, func(a, b *Runner) int { return int(a.ID - b.ID) })
		r := idle[f.rng.IntN(len(idle))]
		r.Busy, r.JobID = true, j.ID
		j.Status, j.StartedAt, j.RunnerID, j.RunnerName, j.RunnerGroup = "in_progress", now, r.ID, r.Name, r.GroupID
		if c, ok := f.assigned[r.ID]; ok {
			close(c)
			delete(f.assigned, r.ID)
		}
		f.hooks.send(f.jobEvent("in_progress", j))
		f.scaleSetEvent("JobStarted", j)
		f.jobChanged()
	}
}
