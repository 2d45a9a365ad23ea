package github

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/actions/scaleset"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/runners"
)

// ScaleSetConfig says how to reach the runner scale-set API (through actions/scaleset).
type ScaleSetConfig struct {
	// ConfigURL names the scope the scale sets live in: https://github.com/ORG,
	// https://github.com/OWNER/REPO or https://github.com/enterprises/ENT; on GHES the same
	// paths on https://HOST (the API is then https://HOST/api/v3).
	ConfigURL string
	// CAFile is a PEM bundle trusted in addition to the system roots.
	CAFile string
	// AppID, InstallationID and PrivateKey (PEM), or Token.
	AppID          int64
	InstallationID int64
	PrivateKey     []byte
	Token          string
	// Timeout of one request (a message poll lasts up to about 50 s): 2 min when zero.
	Timeout time.Duration
	// Retries of a failed request (5xx, network): 4 when zero, none when negative.
	Retries int
}

// ScaleSets is a client of the runner scale-set API for one scope. In this mode GitHub keeps
// the demand: each scale set's single listener session long-polls messages that carry job
// events and statistics, so no inbound webhook is needed.
type ScaleSets struct {
	c *scaleset.Client
}

// NewScaleSets builds a client. It makes no request.
func NewScaleSets(cfg ScaleSetConfig) (*ScaleSets, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Minute
	}
	if cfg.Retries == 0 {
		cfg.Retries = 4
	}
	opts := []scaleset.HTTPOption{scaleset.WithTimeout(cfg.Timeout), scaleset.WithRetryMax(cfg.Retries)}
	if cfg.CAFile != "" {
		pool, err := rootCAs(cfg.CAFile)
		if err != nil {
			return nil, err
		}
		opts = append(opts, scaleset.WithRootCAs(pool))
	}
	info := scaleset.SystemInfo{System: "hashike"}
	var c *scaleset.Client
	var err error
	switch {
	case cfg.AppID != 0 && cfg.Token != "":
		return nil, hashike.Errorf(hashike.EInvalid, "github: set either an App or a token, not both")
	case cfg.AppID != 0:
		c, err = scaleset.NewClientWithGitHubApp(scaleset.ClientWithGitHubAppConfig{GitHubConfigURL: cfg.ConfigURL, SystemInfo: info,
			GitHubAppAuth: scaleset.GitHubAppAuth{ClientID: strconv.FormatInt(cfg.AppID, 10), InstallationID: cfg.InstallationID, PrivateKey: string(cfg.PrivateKey)}}, opts...)
	case cfg.Token != "":
		c, err = scaleset.NewClientWithPersonalAccessToken(scaleset.NewClientWithPersonalAccessTokenConfig{GitHubConfigURL: cfg.ConfigURL, PersonalAccessToken: cfg.Token}, opts...)
		if c != nil {
			c.SetSystemInfo(info)
		}
	default:
		return nil, hashike.Errorf(hashike.EInvalid, "github: no credentials: set an App (ID, installation ID, private key) or a token")
	}
	if err != nil {
		return nil, hashike.Errorf(hashike.EInvalid, "github: scale-set client for %s: %v", cfg.ConfigURL, err)
	}
	return &ScaleSets{c: c}, nil
}

// ScaleSet is a runner scale set.
type ScaleSet struct {
	ID      int
	Name    string
	GroupID int
	Labels  []string
}

func scaleSetOf(s *scaleset.RunnerScaleSet) ScaleSet {
	out := ScaleSet{ID: s.ID, Name: s.Name, GroupID: s.RunnerGroupID}
	for _, l := range s.Labels {
		out.Labels = append(out.Labels, l.Name)
	}
	return out
}

// Ensure returns the scale set name in runner group group ("" = the default group), creating
// it with labels (its name when empty) if it does not exist. Idempotent; an existing scale
// set's labels are left as they are.
func (s *ScaleSets) Ensure(ctx context.Context, name string, labels []string, group string) (ScaleSet, error) {
	groupID := 1
	if group != "" && !strings.EqualFold(group, scaleset.DefaultRunnerGroup) {
		g, err := s.c.GetRunnerGroupByName(ctx, group)
		if err != nil {
			return ScaleSet{}, classifyScaleSet("get runner group "+group, err)
		}
		groupID = g.ID
	}
	got, err := s.c.GetRunnerScaleSet(ctx, groupID, name)
	if err != nil {
		return ScaleSet{}, classifyScaleSet("get scale set "+name, err)
	}
	if got != nil {
		return scaleSetOf(got), nil
	}
	want := &scaleset.RunnerScaleSet{Name: name, RunnerGroupID: groupID}
	for _, l := range labels {
		want.Labels = append(want.Labels, scaleset.Label{Name: l})
	}
	created, err := s.c.CreateRunnerScaleSet(ctx, want)
	if err != nil {
		return ScaleSet{}, classifyScaleSet("create scale set "+name, err)
	}
	return scaleSetOf(created), nil
}

// GenerateJITConfig creates a runner of the scale set and returns its JIT config.
func (s *ScaleSets) GenerateJITConfig(ctx context.Context, scaleSetID int, name string) (JIT, error) {
	out, err := s.c.GenerateJitRunnerConfig(ctx, &scaleset.RunnerScaleSetJitRunnerSetting{Name: name}, scaleSetID)
	if err != nil {
		return JIT{}, classifyScaleSet(fmt.Sprintf("generate JIT config for runner %s of scale set %d", name, scaleSetID), err)
	}
	if out == nil || out.Runner == nil || out.EncodedJITConfig == "" {
		return JIT{}, fmt.Errorf("generate JIT config for runner %s of scale set %d: no config returned", name, scaleSetID)
	}
	return JIT{RunnerID: int64(out.Runner.ID), Name: out.Runner.Name, Config: JITConfig{out.EncodedJITConfig}}, nil
}

// RemoveRunner deregisters a scale-set runner: unknown is success, busy is ErrRunnerBusy.
func (s *ScaleSets) RemoveRunner(ctx context.Context, id int64) error {
	err := s.c.RemoveRunner(ctx, id)
	switch {
	case err == nil, errors.Is(err, scaleset.RunnerNotFoundError), strings.Contains(err.Error(), `status="404`):
		return nil
	case errors.Is(err, scaleset.JobStillRunningError):
		return &hashike.Error{Code: hashike.EConflict, Message: fmt.Sprintf("remove runner %d", id), Err: ErrRunnerBusy}
	}
	return classifyScaleSet(fmt.Sprintf("remove runner %d", id), err)
}

// ErrSessionTaken is in the chain of Listen's error when another listener holds the scale
// set's session (GitHub allows one; 409). It is the runners package's.
var ErrSessionTaken = runners.ErrSessionTaken

// Session is a scale set's listener session. One goroutine uses it.
type Session struct {
	s    *scaleset.MessageSessionClient
	last int
}

// Listen opens the scale set's message session as owner (e.g. the replica's name).
func (s *ScaleSets) Listen(ctx context.Context, scaleSetID int, owner string) (*Session, error) {
	ms, err := s.c.MessageSessionClient(ctx, scaleSetID, owner)
	if err != nil {
		if strings.Contains(err.Error(), `status="409`) {
			return nil, &hashike.Error{Code: hashike.EConflict, Message: fmt.Sprintf("open session of scale set %d", scaleSetID), Err: ErrSessionTaken}
		}
		return nil, classifyScaleSet(fmt.Sprintf("open session of scale set %d", scaleSetID), err)
	}
	return &Session{s: ms}, nil
}

// Stats are the statistics GitHub sent with the session.
func (s *Session) Stats() (ScaleSetStats, bool) {
	st := s.s.Session().Statistics
	if st == nil {
		return ScaleSetStats{}, false
	}
	return statsOf(st), true
}

func statsOf(st *scaleset.RunnerScaleSetStatistic) ScaleSetStats {
	return ScaleSetStats{Available: st.TotalAvailableJobs, Acquired: st.TotalAcquiredJobs, Assigned: st.TotalAssignedJobs,
		Running: st.TotalRunningJobs, Registered: st.TotalRegisteredRunners, Busy: st.TotalBusyRunners, Idle: st.TotalIdleRunners}
}

// ScaleSetStats are a scale set's counts as GitHub reports them with every message.
type ScaleSetStats struct {
	Available, Acquired, Assigned, Running int
	Registered, Busy, Idle                 int
}

// JobEvent is one job message. Times are zero until they happened.
type JobEvent struct {
	RequestID          int64
	JobID              string
	Repo               string // owner/repo
	Name               string
	Labels             []string
	RunnerID           int64
	RunnerName         string
	Result             string
	QueueTime          time.Time
	ScaleSetAssignTime time.Time
	RunnerAssignTime   time.Time
	FinishTime         time.Time
}

// Batch is one message: job events and the statistics at that moment.
type Batch struct {
	ID    int
	Stats ScaleSetStats
	// HasStats reports whether the message carried statistics.
	HasStats                                bool
	Available, Assigned, Started, Completed []JobEvent
}

func event(b scaleset.JobMessageBase) JobEvent {
	return JobEvent{RequestID: b.RunnerRequestID, JobID: b.JobID, Repo: b.OwnerName + "/" + b.RepositoryName, Name: b.JobDisplayName,
		Labels: b.RequestLabels, QueueTime: b.QueueTime, ScaleSetAssignTime: b.ScaleSetAssignTime, RunnerAssignTime: b.RunnerAssignTime,
		FinishTime: b.FinishTime}
}

// Next long-polls the next message; ok is false when none came before GitHub's poll ended.
// maxCapacity tells GitHub how many more runners this listener could start. The message comes
// again until Ack.
func (s *Session) Next(ctx context.Context, maxCapacity int) (b Batch, ok bool, err error) {
	m, err := s.s.GetMessage(ctx, s.last, maxCapacity)
	if err != nil {
		return Batch{}, false, classifyScaleSet("get scale-set message", err)
	}
	if m == nil {
		return Batch{}, false, nil
	}
	b.ID = m.MessageID
	if st := m.Statistics; st != nil {
		b.Stats, b.HasStats = statsOf(st), true
	}
	for _, j := range m.JobAvailableMessages {
		b.Available = append(b.Available, event(j.JobMessageBase))
	}
	for _, j := range m.JobAssignedMessages {
		b.Assigned = append(b.Assigned, event(j.JobMessageBase))
	}
	for _, j := range m.JobStartedMessages {
		e := event(j.JobMessageBase)
		e.RunnerID, e.RunnerName = int64(j.RunnerID), j.RunnerName
		b.Started = append(b.Started, e)
	}
	for _, j := range m.JobCompletedMessages {
		e := event(j.JobMessageBase)
		e.RunnerID, e.RunnerName, e.Result = int64(j.RunnerID), j.RunnerName, j.Result
		b.Completed = append(b.Completed, e)
	}
	return b, true, nil
}

// Ack deletes a handled message so it is not returned again.
func (s *Session) Ack(ctx context.Context, b Batch) error {
	if err := s.s.DeleteMessage(ctx, b.ID); err != nil {
		return classifyScaleSet(fmt.Sprintf("delete scale-set message %d", b.ID), err)
	}
	s.last = b.ID
	return nil
}

// Acquire claims available jobs for this scale set; it returns the ids GitHub gave it.
func (s *Session) Acquire(ctx context.Context, requestIDs []int64) ([]int64, error) {
	got, err := s.s.AcquireJobs(ctx, requestIDs)
	if err != nil {
		return nil, classifyScaleSet("acquire jobs", err)
	}
	return got, nil
}

// Close ends the session so another listener can open one.
func (s *Session) Close(ctx context.Context) error {
	if err := s.s.Close(ctx); err != nil {
		return classifyScaleSet("close scale-set session", err)
	}
	return nil
}

func classifyScaleSet(op string, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, `status="404`):
		return &hashike.Error{Code: hashike.ENotFound, Message: op, Err: err}
	case strings.Contains(msg, `status="401`), strings.Contains(msg, `status="403`):
		return &hashike.Error{Code: hashike.EInvalid, Message: op + ": GitHub refused the credentials", Err: err}
	case strings.Contains(msg, `status="409`):
		return &hashike.Error{Code: hashike.EConflict, Message: op, Err: err}
	}
	return &hashike.Error{Code: hashike.EUnavailable, Message: op, Err: err}
}
