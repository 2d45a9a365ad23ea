package main

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/autoscale"
	"github.com/hashike/hashike/ecsscale"
	"github.com/hashike/hashike/job"
	"github.com/hashike/hashike/objects3"
	"github.com/hashike/hashike/retention"
	"github.com/hashike/hashike/sim"
)

// Config is hashike's configuration file (--config FILE, env HASHIKE_CONFIG), YAML or JSON.
// It is read here and only here: the rest of the program receives the structs it builds.
// Every subcommand that takes --config reads it with ReadConfigFile.
type Config struct {
	// Autoscaler, when set, has `hashike server` run the cluster autoscaler on its leader,
	// and is what `hashike autoscaler` runs.
	Autoscaler *AutoscalerConfig `json:"autoscaler"`
	// Runners, when set, has `hashike server` keep ephemeral GitHub Actions runner pools.
	Runners *RunnersConfig `json:"runners"`
	// ObjectStore is where `hashike server` keeps payloads passed by reference and runs'
	// results: the local filesystem under the state directory by default, or S3.
	ObjectStore ObjectStoreConfig `json:"objectStore"`
	// Payloads tunes payloads by reference and results.
	Payloads PayloadsConfig `json:"payloads"`
	// Retention is how long ended runs, their logs and their archived logs are kept, for runs
	// of jobs without a retention of their own and of `hashike run`; unset: kept forever.
	Retention *RetentionConfig `json:"retention"`
}

// ObjectStoreConfig is the objectStore section: S3 when s3.bucket is set, else the local
// filesystem under dir.
type ObjectStoreConfig struct {
	// Dir is the local store's directory (default: objects/ beside the server's SQLite
	// database, or in the state directory).
	Dir string   `json:"dir"`
	S3  S3Config `json:"s3"`
}

// S3Config is an S3 bucket (objects3.Config). The endpoint and credentials come from the AWS
// configuration: AWS_ENDPOINT_URL_S3 names an S3-compatible server.
type S3Config struct {
	Bucket    string `json:"bucket"`
	Prefix    string `json:"prefix"`
	Region    string `json:"region"`
	PathStyle bool   `json:"pathStyle"`
	// PartSize is the multipart upload part size in bytes (default 16 MiB, at least 5 MiB).
	PartSize int64 `json:"partSize"`
}

// PayloadsConfig is the payloads section (README "Payloads and results").
type PayloadsConfig struct {
	// InlineBytes: a payload up to this size is passed inline, in HASHIKE_PAYLOAD (default
	// and most 131055; on ECS at most 4096, what RunTask's overrides leave room for).
	InlineBytes int `json:"inlineBytes"`
	// MaxResultBytes bounds a run's result (default 8 MiB).
	MaxResultBytes int64 `json:"maxResultBytes"`
	// URLMargin is added to a run's timeout for the validity of the URLs its containers get
	// on ECS (default 1h): a run without a timeout gets URLs valid 7 days, S3's most.
	URLMargin hashike.Duration `json:"urlMargin"`
}

// RetentionConfig is the retention section: the default retention (a job definition's
// retention overrides it field by field) and how the leader's pruner works through it.
// Durations are Go's duration text or whole days ("7d"); they are read by Validate, which
// places a bad one at its file:line:col.
type RetentionConfig struct {
	// Logs, Archive and Runs are hashike.Retention's: how long after a run ended its logs stay
	// in the database, its archived logs in the object store, and the run itself. Unset or
	// "0s": forever.
	Logs    *string `json:"logs"`
	Archive *string `json:"archive"`
	Runs    *string `json:"runs"`
	// Interval is how often the leader prunes (default 1h).
	Interval string `json:"interval"`
	// Batch is how many runs one transaction deletes (default 500, at most 1000).
	Batch int `json:"batch"`
}

// Default is the section's hashike.Retention (nothing: keep forever). Fields Validate
// refuses are left unset.
func (r *RetentionConfig) Default() hashike.Retention {
	if r == nil {
		return hashike.Retention{}
	}
	d, _ := r.parse()
	return d
}

// PruneInterval is the section's interval (0: the server's default).
func (r *RetentionConfig) PruneInterval() time.Duration {
	if r == nil || r.Interval == "" {
		return 0
	}
	v, _ := hashike.ParseDuration(r.Interval)
	return v
}

// parse reads the durations; errs maps a field's path to what is wrong with it.
func (r *RetentionConfig) parse() (hashike.Retention, map[string]error) {
	var out hashike.Retention
	errs := map[string]error{}
	for _, f := range []struct {
		path string
		in   *string
		out  **hashike.Duration
	}{{"retention.logs", r.Logs, &out.Logs}, {"retention.archive", r.Archive, &out.Archive}, {"retention.runs", r.Runs, &out.Runs}} {
		if f.in == nil {
			continue
		}
		v, err := hashike.ParseDuration(*f.in)
		if err != nil {
			errs[f.path] = err
			continue
		}
		d := hashike.Duration(v)
		*f.out = &d
	}
	return out, errs
}

func (r *RetentionConfig) validate(bad func(path, format string, args ...any)) {
	d, errs := r.parse()
	for _, path := range []string{"retention.logs", "retention.archive", "retention.runs"} {
		if err := errs[path]; err != nil {
			bad(path, "%v", err)
		}
	}
	if r.Interval != "" {
		if v, err := hashike.ParseDuration(r.Interval); err != nil {
			bad("retention.interval", "%v", err)
		} else if v < time.Minute {
			bad("retention.interval", "%s: want at least 1m (the default is 1h)", v)
		}
	}
	if r.Batch < 0 || r.Batch > hashike.MaxPruneBatch {
		bad("retention.batch", "%d: want 1 to %d (0: the default, %d)", r.Batch, hashike.MaxPruneBatch, retention.DefaultBatch)
	}
	if d.Logs != nil && d.Runs != nil && *d.Runs > 0 && *d.Logs > *d.Runs {
		bad("retention.runs", "%s is shorter than logs (%s): a run's logs go with it",
			time.Duration(*d.Runs), time.Duration(*d.Logs))
	}
}

// AutoscalerConfig is the autoscaler section: the clusters whose Auto Scaling groups it owns
// and the policy that decides.
type AutoscalerConfig struct {
	Clusters []ClusterConfig `json:"clusters"`
	Policy   PolicyConfig    `json:"policy"`
	// EventsQueueURL is the SQS queue EventBridge delivers the lifecycle-hook, spot
	// interruption and rebalance events to, for a configuration of one cluster (with
	// several, each cluster names its own: a loop deletes the events of groups it does not
	// own).
	EventsQueueURL string `json:"eventsQueueURL"`
	// Warmup has new instances pull the images used most recently before they count as
	// ready (off unless images > 0).
	Warmup WarmupConfig `json:"warmup"`
	// MaxJobTimeout bounds how long a terminating lifecycle hook is kept alive for the jobs
	// on its instance (default 1 h).
	MaxJobTimeout hashike.Duration `json:"maxJobTimeout"`
	// DryRun observes and logs every decision without acting on any.
	DryRun bool `json:"dryRun"`
}

// ClusterConfig is one ECS cluster and its capacity pools.
type ClusterConfig struct {
	Name   string       `json:"name"`
	Region string       `json:"region"`
	Pools  []PoolConfig `json:"pools"`
	// EventsQueueURL is this cluster's events queue (default: the autoscaler section's, with
	// one cluster).
	EventsQueueURL string `json:"eventsQueueURL"`
}

// WarmupConfig is ecsscale.Warmup in the config file.
type WarmupConfig struct {
	// Images is how many of the images used most in the last Window a new instance pulls
	// before it counts as ready (0: no warm-up).
	Images int              `json:"images"`
	Window hashike.Duration `json:"window"`
	// Timeout bounds a warm-up (default 5m).
	Timeout hashike.Duration `json:"timeout"`
	// ExecutionRoleArn is the role the ECS agent pulls private images with, if any.
	ExecutionRoleArn string `json:"executionRoleArn"`
}

// PoolConfig is one capacity pool: an Auto Scaling group whose instances join the cluster.
type PoolConfig struct {
	Name string `json:"name"`
	// AutoScalingGroupName is the group's name (default Name).
	AutoScalingGroupName string `json:"autoScalingGroupName"`
	// InstanceTypes the group launches, in preference order. A type sim knows
	// (m6i.xlarge...) needs only its name; others need cpu and memoryMiB, as the
	// container instance registers them.
	InstanceTypes []autoscale.InstanceType `json:"instanceTypes"`
	// OnDemandPool names the pool to replace this one's spot capacity from when it is
	// reclaimed.
	OnDemandPool string `json:"onDemandPool"`
}

// PolicyConfig names the policy (hashike, ecs-managed, provisioning, reactive...) and gives
// its settings.
type PolicyConfig struct {
	Name string `json:"name"`
	// SLO is the hashike policy's target: {waitP95: 30s}.
	SLO struct {
		WaitP95 hashike.Duration `json:"waitP95"`
	} `json:"slo"`
	// BatchWindow is how long the hashike policy holds a new pending task so that a burst
	// is packed into one launch (default 2s; docs/autoscaler.md: at 1s or less, a queued run
	// reaches SetDesiredCapacity within 2 s at p99).
	BatchWindow hashike.Duration `json:"batchWindow"`
}

// Defaults of the autoscaler section.
const (
	DefaultAutoscalerPolicy = "hashike"
	DefaultMaxJobTimeout    = time.Hour
)

// ReadConfigFile reads, expands, decodes and validates a config file. ${VAR} and $VAR are
// replaced by the environment's values (lookupEnv) before decoding, as litestream does, so
// secrets and per-environment names stay out of the file. Every problem is reported with
// its file:line:col, all at once, as an EInvalid *hashike.Error (a usage error, exit 2).
func ReadConfigFile(path string, lookupEnv func(string) (string, bool)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &hashike.Error{Code: hashike.EInvalid, Message: "config file", Err: err}
	}
	return ParseConfig(path, data, lookupEnv)
}

// ParseConfig is ReadConfigFile of data read from file.
func ParseConfig(file string, data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	expanded := os.Expand(string(data), func(name string) string {
		v, _ := lookupEnv(name)
		return v
	})
	data = []byte(expanded)
	invalid := func(errs []string) error {
		return &hashike.Error{Code: hashike.EInvalid, Message: "config file " + file + ":\n  " + strings.Join(errs, "\n  ")}
	}
	var c Config
	if err := yaml.UnmarshalWithOptions(data, &c, yaml.Strict(), yaml.UseJSONUnmarshaler()); err != nil {
		return nil, invalid([]string{yamlError(file, err)})
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, invalid([]string{yamlError(file, err)})
	}
	c.setDefaults()
	if errs := c.Validate(positions{file: file, ast: f}); len(errs) > 0 {
		return nil, invalid(errs)
	}
	return &c, nil
}

// yamlError places a decoding error at file:line:col.
func yamlError(file string, err error) string {
	var ye yaml.Error
	if errors.As(err, &ye) && ye.GetToken() != nil {
		p := ye.GetToken().Position
		return fmt.Sprintf("%s:%d:%d: %s", file, p.Line, p.Column, ye.GetMessage())
	}
	return fmt.Sprintf("%s: %v", file, err)
}

// positions finds where a field is in the file, for Validate's messages.
type positions struct {
	file string
	ast  *ast.File
}

var indexRE = regexp.MustCompile(`\[\d+\]$`)

// at is "file:line:col" of the value at path ("autoscaler.clusters[0].name"), or of the
// nearest enclosing field present in the file.
func (p positions) at(path string) string {
	for path != "" {
		if p.ast != nil {
			if yp, err := yaml.PathString("$." + path); err == nil {
				if n, err := yp.FilterFile(p.ast); err == nil && n != nil && n.GetToken() != nil {
					if m, ok := n.(*ast.MappingNode); ok && len(m.Values) > 0 {
						n = m.Values[0].Key // a mapping's token is its first ':'; point at its first key
					}
					pos := n.GetToken().Position
					return fmt.Sprintf("%s:%d:%d", p.file, pos.Line, pos.Column)
				}
			}
		}
		if loc := indexRE.FindStringIndex(path); loc != nil {
			path = path[:loc[0]]
		} else if i := strings.LastIndexByte(path, '.'); i >= 0 {
			path = path[:i]
		} else {
			path = ""
		}
	}
	return p.file
}

func (c *Config) setDefaults() {
	a := c.Autoscaler
	if a == nil {
		return
	}
	if a.Policy.Name == "" {
		a.Policy.Name = DefaultAutoscalerPolicy
	}
	if a.MaxJobTimeout == 0 {
		a.MaxJobTimeout = hashike.Duration(DefaultMaxJobTimeout)
	}
	known := map[string]autoscale.InstanceType{}
	for _, t := range sim.DefaultTypes() {
		known[t.Name] = t
	}
	for i := range a.Clusters {
		for j := range a.Clusters[i].Pools {
			p := &a.Clusters[i].Pools[j]
			if p.AutoScalingGroupName == "" {
				p.AutoScalingGroupName = p.Name
			}
			for k, t := range p.InstanceTypes {
				if d, ok := known[t.Name]; ok && t.CPU == 0 && t.MemoryMiB == 0 {
					if t.OnDemandPrice == 0 {
						t.OnDemandPrice = d.OnDemandPrice
					}
					if t.SpotPrice == 0 {
						t.SpotPrice = d.SpotPrice
					}
					t.CPU, t.MemoryMiB = d.CPU, d.MemoryMiB
					p.InstanceTypes[k] = t
				}
			}
		}
	}
}

// Validate reports every problem of the configuration, each at its file:line:col.
func (c *Config) Validate(pos positions) []string {
	return c.validate(pos, runtime.GOARCH)
}

func (c *Config) validate(pos positions, hostArch string) []string {
	var errs []string
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Sprintf("%s: %s: %s", pos.at(path), path, fmt.Sprintf(format, args...)))
	}
	if c.Runners != nil {
		c.Runners.validate(hostArch, bad)
	}
	if o := c.ObjectStore; o.S3.Bucket != "" || o.S3.Prefix != "" || o.S3.PartSize != 0 || o.S3.PathStyle || o.S3.Region != "" {
		if o.Dir != "" {
			bad("objectStore.dir", "give dir (the local filesystem) or s3, not both")
		}
		cfg := objects3.Config{Bucket: o.S3.Bucket, Prefix: o.S3.Prefix, PartSize: o.S3.PartSize}
		var e *hashike.Error
		if err := cfg.Validate(); errors.As(err, &e) {
			for _, f := range e.Fields {
				bad("objectStore.s3."+f.Path, "%s", f.Message)
			}
		}
	}
	if p := c.Payloads; p.InlineBytes < 0 || p.InlineBytes > job.PayloadLimit {
		bad("payloads.inlineBytes", "want 0 (the default, %d) to %d: HASHIKE_PAYLOAD cannot carry more", job.PayloadLimit, job.PayloadLimit)
	}
	if c.Payloads.MaxResultBytes < 0 {
		bad("payloads.maxResultBytes", "must not be negative")
	}
	if c.Payloads.URLMargin < 0 {
		bad("payloads.urlMargin", "want a duration > 0 such as 1h")
	}
	if c.Retention != nil {
		c.Retention.validate(bad)
	}
	a := c.Autoscaler
	if a == nil {
		return errs
	}
	if len(a.Clusters) == 0 {
		bad("autoscaler.clusters", "at least one cluster is required")
	}
	if _, err := a.NewPolicy(); err != nil {
		bad("autoscaler.policy.name", "%v", err)
	}
	if a.Policy.BatchWindow < 0 || a.Policy.BatchWindow > hashike.Duration(10*time.Second) {
		bad("autoscaler.policy.batchWindow", "want a duration from 0 (the default, 2s) to 10s")
	}
	if a.Policy.SLO.WaitP95 < 0 {
		bad("autoscaler.policy.slo.waitP95", "want a duration > 0 such as 30s")
	}
	if a.MaxJobTimeout < 0 {
		bad("autoscaler.maxJobTimeout", "want a duration > 0 such as 1h")
	}
	queueURL := func(path, u string) {
		if u != "" && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			bad(path, "%q is not an SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)", u)
		}
	}
	queueURL("autoscaler.eventsQueueURL", a.EventsQueueURL)
	if a.EventsQueueURL != "" && len(a.Clusters) > 1 {
		bad("autoscaler.eventsQueueURL", "with %d clusters, give each cluster its own eventsQueueURL: a cluster's events loop deletes the events of groups it does not own", len(a.Clusters))
	}
	if a.Warmup.Images < 0 || a.Warmup.Images > 20 {
		bad("autoscaler.warmup.images", "%d: want 0 (off) to 20", a.Warmup.Images)
	}
	if a.Warmup.Window < 0 {
		bad("autoscaler.warmup.window", "want a duration > 0 such as 1h")
	}
	if a.Warmup.Timeout < 0 {
		bad("autoscaler.warmup.timeout", "want a duration > 0 such as 5m")
	}
	queues := map[string]string{}
	clusters := map[string]bool{}
	groups := map[string]string{} // group -> the path that names it first
	for i, cl := range a.Clusters {
		at := fmt.Sprintf("autoscaler.clusters[%d]", i)
		switch {
		case cl.Name == "":
			bad(at+".name", "required")
		case clusters[cl.Name]:
			bad(at+".name", "cluster %q is listed twice", cl.Name)
		}
		clusters[cl.Name] = true
		queueURL(at+".eventsQueueURL", cl.EventsQueueURL)
		if u := cl.EventsQueueURL; u != "" {
			if first, ok := queues[u]; ok {
				bad(at+".eventsQueueURL", "the queue is already %s's: each cluster needs its own", first)
			}
			queues[u] = at
		}
		if len(cl.Pools) == 0 {
			bad(at+".pools", "at least one pool is required")
		}
		pools := map[string]bool{}
		for _, p := range cl.Pools {
			pools[p.Name] = true
		}
		seen := map[string]bool{}
		types := map[string]autoscale.InstanceType{}
		for j, p := range cl.Pools {
			pat := fmt.Sprintf("%s.pools[%d]", at, j)
			switch {
			case p.Name == "":
				bad(pat+".name", "required")
			case seen[p.Name]:
				bad(pat+".name", "pool %q is listed twice in cluster %s", p.Name, cl.Name)
			}
			seen[p.Name] = true
			if first, ok := groups[p.AutoScalingGroupName]; ok && p.AutoScalingGroupName != "" {
				bad(pat+".autoScalingGroupName", "group %q is already %s's: a group has one owner", p.AutoScalingGroupName, first)
			} else {
				groups[p.AutoScalingGroupName] = pat
			}
			if len(p.InstanceTypes) == 0 {
				bad(pat+".instanceTypes", "at least one instance type is required")
			}
			for k, t := range p.InstanceTypes {
				tat := fmt.Sprintf("%s.instanceTypes[%d]", pat, k)
				switch {
				case t.Name == "":
					bad(tat+".name", "required")
				case t.CPU <= 0 || t.MemoryMiB <= 0:
					bad(tat, "%s: cpu and memoryMiB are required (> 0) for a type hashike does not know", t.Name)
				case t.OnDemandPrice < 0 || t.SpotPrice < 0:
					bad(tat, "%s: prices must be >= 0", t.Name)
				}
				if prev, ok := types[t.Name]; ok && prev != t && t.Name != "" {
					bad(tat, "%s is described differently in another pool of cluster %s", t.Name, cl.Name)
				}
				types[t.Name] = t
			}
			if p.OnDemandPool != "" && (!pools[p.OnDemandPool] || p.OnDemandPool == p.Name) {
				bad(pat+".onDemandPool", "%q is not another pool of cluster %s", p.OnDemandPool, cl.Name)
			}
		}
	}
	return errs
}

// NewPolicy builds the configured policy with sim's builder, so that the live autoscaler
// and `hashike sim` decide alike.
func (a *AutoscalerConfig) NewPolicy() (autoscale.Policy, error) {
	cfg := sim.Config{}
	cfg.Hashike.SLO.WaitP95 = time.Duration(a.Policy.SLO.WaitP95)
	cfg.Hashike.BatchIdle = time.Duration(a.Policy.BatchWindow)
	p, err := sim.NewPolicy(cfg, a.Policy.Name)
	if err != nil {
		return nil, fmt.Errorf("unknown policy %q (known: %s)", a.Policy.Name, strings.Join(autoscale.Names(), ", "))
	}
	return p, nil
}

// ManagedGroups are the Auto Scaling groups the autoscaler owns, by cluster: the ECS
// backend's per-run scale-out leaves them alone.
func (a *AutoscalerConfig) ManagedGroups() map[string]bool {
	out := map[string]bool{}
	if a == nil {
		return out
	}
	for _, cl := range a.Clusters {
		for _, p := range cl.Pools {
			out[p.AutoScalingGroupName] = true
		}
	}
	return out
}

// ScaleConfig is the ecsscale.Config of one cluster (without its clients, Queue, Clock and
// Interrupter).
func (a *AutoscalerConfig) ScaleConfig(cl ClusterConfig) ecsscale.Config {
	c := cl.ScaleConfig()
	c.Warmup = ecsscale.Warmup{Images: a.Warmup.Images, Window: time.Duration(a.Warmup.Window),
		Timeout: time.Duration(a.Warmup.Timeout), ExecutionRoleArn: a.Warmup.ExecutionRoleArn}
	return c
}

// EventsQueue is a cluster's events queue URL ("": no events loop).
func (a *AutoscalerConfig) EventsQueue(cl ClusterConfig) string {
	if cl.EventsQueueURL != "" {
		return cl.EventsQueueURL
	}
	if len(a.Clusters) == 1 {
		return a.EventsQueueURL
	}
	return ""
}

// ScaleConfig is the ecsscale.Config of one cluster's pools and types.
func (cl ClusterConfig) ScaleConfig() ecsscale.Config {
	c := ecsscale.Config{Cluster: cl.Name}
	seen := map[string]bool{}
	for _, p := range cl.Pools {
		pool := ecsscale.Pool{Name: p.Name, Group: p.AutoScalingGroupName, OnDemandPool: p.OnDemandPool}
		for _, t := range p.InstanceTypes {
			pool.InstanceTypes = append(pool.InstanceTypes, t.Name)
			if !seen[t.Name] {
				seen[t.Name] = true
				c.Types = append(c.Types, t)
			}
		}
		c.Pools = append(c.Pools, pool)
	}
	slices.SortFunc(c.Types, func(x, y autoscale.InstanceType) int { return strings.Compare(x.Name, y.Name) })
	return c
}

// configPath is --config, else HASHIKE_CONFIG; "" when neither is given.
func (a *app) configPath(flag string) string {
	if flag != "" {
		return flag
	}
	return a.env("HASHIKE_CONFIG")
}

// readConfig reads the config file named by --config or HASHIKE_CONFIG; with neither, an
// empty Config.
func (a *app) readConfig(flag string) (*Config, error) {
	path := a.configPath(flag)
	if path == "" {
		return &Config{}, nil
	}
	return ReadConfigFile(path, a.lookupEnv)
}
