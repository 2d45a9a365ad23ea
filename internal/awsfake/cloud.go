// Package awsfake is a stateful, in-memory fake of the parts of Amazon ECS, EC2 Auto Scaling,
// CloudWatch Logs and Amazon SQS (with EventBridge's task state change events) that hashike's
// AWS adapters rely on: the ecs backend and the ecsscale autoscaler. It stands behind their
// narrow interfaces (ecs.ECSAPI, AutoScalingAPI, LogsAPI, SQSAPI; ecsscale's) and models the real services'
// behaviour, failures included: binpack placement with RESOURCE:* failures, capacity
// providers and PROVISIONING tasks, Auto Scaling lifecycle hooks with their heartbeat and
// global timeouts (lifecycle.go), spot interruption warnings with the reclaim two minutes
// later and rebalance recommendations delivered by EventBridge rules to SQS
// (ec2events.go), the task lifecycle with its timestamps and stop codes,
// clientToken idempotency, STOPPED tasks forgotten after an hour, throttling, and awslogs
// streams that appear late with events delivered late.
//
// Containers whose image is Options.TestImage run their command as a cmd/hashike-testjob
// script, interpreted in process on the fake's Clock, with a per-task in-memory file system
// for shared volumes. Errors are smithy API errors with the real services' codes, so callers
// branch on them as they would on the real ones.
//
// It is for tests only: no production code imports it.
package awsfake

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/ecs"
)

// Rate is a token bucket: PerSecond tokens are added every second, up to Burst.
type Rate struct {
	PerSecond float64
	Burst     int
}

// Options configure a Cloud. The zero value is usable.
type Options struct {
	// Clock gives every timestamp and paces scripts and lifecycles (default the system clock).
	Clock hashike.Clock
	// Region and AccountID appear in ARNs (default us-east-1, 123456789012).
	Region    string
	AccountID string

	// TestImage is the image whose containers run their command as a hashike-testjob script
	// (default "hashike-testjob:test").
	TestImage string
	// Images are other images that can be pulled; their containers print nothing and exit 0.
	// Any other image fails to pull.
	Images map[string]bool
	// PullTime is how long the first pull of an image takes on a container instance (no
	// time for an image not named); later tasks of that image on the same instance find it
	// cached (or wait for the pull under way), as the agent's image cache does. Fargate
	// tasks pull every time (image.go).
	PullTime map[string]time.Duration

	// StepDelay is the time between two task lifecycle states (default 2ms; negative: none).
	StepDelay time.Duration
	// LogStreamDelay is how long after its container starts an awslogs stream appears
	// (default 50ms; negative: at once).
	LogStreamDelay time.Duration
	// LogDeliveryDelay is how long after it is written an event can be read (default 20ms;
	// negative: at once).
	LogDeliveryDelay time.Duration
	// InsightsDelay is how long after its minute is over a Container Insights performance
	// event can be read (default 0: at once; ECS takes about a minute).
	InsightsDelay time.Duration
	// ProvisioningTimeout is how long a task waits in PROVISIONING for capacity before it is
	// stopped (default 30 minutes).
	ProvisioningTimeout time.Duration
	// MaxProvisioning is the number of PROVISIONING tasks a cluster may hold (default 100).
	MaxProvisioning int
	// ForgetAfter is how long a STOPPED task stays visible (default one hour).
	ForgetAfter time.Duration
	// ManagedScalingDelay, when positive, makes capacity providers scale their group out as
	// managed scaling does: once a task has been PROVISIONING that long, the group's desired
	// capacity rises (up to its maximum) by the instances the waiting tasks need. Zero: the
	// groups change only through SetDesiredCapacity.
	ManagedScalingDelay time.Duration
	// FargateCapacity caps the FARGATE tasks not yet stopped per cluster (0: no cap).
	FargateCapacity int
	// HealthCheckInterval caps the interval between health checks so tests need not wait the
	// definition's interval (default 1s).
	HealthCheckInterval time.Duration
	// Tick is how often a task's driver re-evaluates health checks and startTimeouts when
	// nothing else happens (default 50ms).
	Tick time.Duration

	// Throttle limits the calls per operation ("DescribeTasks", "RunTask", "GetLogEvents",
	// ...); operations not named are not throttled.
	Throttle map[string]Rate
}

func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = hashike.SystemClock{}
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.AccountID == "" {
		o.AccountID = "123456789012"
	}
	if o.TestImage == "" {
		o.TestImage = "hashike-testjob:test"
	}
	def := func(d *time.Duration, v time.Duration) {
		switch {
		case *d == 0:
			*d = v
		case *d < 0:
			*d = 0
		}
	}
	def(&o.StepDelay, 2*time.Millisecond)
	def(&o.LogStreamDelay, 50*time.Millisecond)
	def(&o.LogDeliveryDelay, 20*time.Millisecond)
	def(&o.ProvisioningTimeout, 30*time.Minute)
	def(&o.ForgetAfter, time.Hour)
	def(&o.HealthCheckInterval, time.Second)
	def(&o.Tick, 50*time.Millisecond)
	if o.MaxProvisioning == 0 {
		o.MaxProvisioning = 100
	}
	return o
}

// Cloud is the fake: one account in one region. All its methods are safe for concurrent use.
type Cloud struct {
	opts  Options
	clock hashike.Clock

	mu        sync.Mutex
	calls     map[string]int
	throttled map[string]int
	buckets   map[string]*bucket
	fail      map[string][]error
	failAll   map[string]error

	clusters map[string]*cluster // by name
	families map[string][]*taskDef
	tokens   map[string]*idempotent
	tasks    map[string]*task // by ARN
	order    []*task          // creation order
	asgs     map[string]*asg
	secrets  map[string]string
	streams  map[string]map[string]*logStream // group -> stream -> events
	queues   map[string]*queue                // SQS queues by URL (sqs.go)
	life     lifecycle                        // lifecycle hooks, EC2 events (lifecycle.go, ec2events.go)
	seq      int

	// instanceTypes are the CPU and memory a type's container instances register
	// (AddInstanceType); ec2 the instances launched, by ID, for DescribeInstances;
	// noCapacity the EC2 capacity that has none now (SetInsufficientCapacity). Made on use.
	instanceTypes map[string]instanceType
	ec2           map[string]*ec2Instance
	noCapacity    []Capacity

	wg     sync.WaitGroup
	closed chan struct{}
}

// New returns an empty cloud: add clusters, instances, groups and secrets before use.
func New(opts Options) *Cloud {
	opts = opts.withDefaults()
	return &Cloud{
		opts:      opts,
		clock:     opts.Clock,
		calls:     map[string]int{},
		throttled: map[string]int{},
		buckets:   map[string]*bucket{},
		fail:      map[string][]error{},
		failAll:   map[string]error{},
		clusters:  map[string]*cluster{},
		families:  map[string][]*taskDef{},
		tokens:    map[string]*idempotent{},
		tasks:     map[string]*task{},
		asgs:      map[string]*asg{},
		secrets:   map[string]string{},
		streams:   map[string]map[string]*logStream{},
		closed:    make(chan struct{}),
	}
}

// Close kills every container still running and waits for the fake's goroutines.
func (c *Cloud) Close() {
	c.mu.Lock()
	select {
	case <-c.closed:
	default:
		close(c.closed)
	}
	c.mu.Unlock()
	c.wg.Wait()
}

// ECS returns the Amazon ECS client.
func (c *Cloud) ECS() ecs.ECSAPI { return ecsClient{c} }

// AutoScaling returns the EC2 Auto Scaling client.
func (c *Cloud) AutoScaling() ecs.AutoScalingAPI { return asClient{c} }

// Logs returns the CloudWatch Logs client.
func (c *Cloud) Logs() ecs.LogsAPI { return logsClient{c} }

// Insights returns the CloudWatch Logs client as the ECS backend's Container Insights reader.
func (c *Cloud) Insights() ecs.InsightsAPI { return logsClient{c} }

// Calls returns how many times op ("RunTask", "GetLogEvents", ...) was called, throttled and
// failed calls included.
func (c *Cloud) Calls(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[op]
}

// Throttled returns how many calls of op were refused with ThrottlingException.
func (c *Cloud) Throttled(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.throttled[op]
}

// SetThrottle sets (or, with a zero Rate, removes) the token bucket of op.
func (c *Cloud) SetThrottle(op string, r Rate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.opts.Throttle == nil {
		c.opts.Throttle = map[string]Rate{}
	}
	if r == (Rate{}) {
		delete(c.opts.Throttle, op)
	} else {
		c.opts.Throttle[op] = r
	}
	delete(c.buckets, op)
}

// FailNext makes the next calls of op fail with errs, one error per call, before any other
// check.
func (c *Cloud) FailNext(op string, errs ...error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail[op] = append(c.fail[op], errs...)
}

// FailAlways makes every call of op fail with err, after the errors FailNext queued, until
// FailAlways(op, nil): an outage of one operation.
func (c *Cloud) FailAlways(op string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		delete(c.failAll, op)
	} else {
		c.failAll[op] = err
	}
}

// ServerError is what the SDK returns for an HTTP 500 answer of an ECS operation:
// ServerException, a server fault.
func ServerError() error {
	return &types.ServerException{Message: aws.String("Service Unavailable. Please try again later.")}
}

// FailRegister makes the next n RegisterTaskDefinition calls fail as ECS does when a family
// gets revisions concurrently.
func (c *Cloud) FailRegister(n int) {
	for i := 0; i < n; i++ {
		c.FailNext("RegisterTaskDefinition", apiError("ClientException", "Too many concurrent attempts to create a new revision of the specified family."))
	}
}

// PutSecret makes valueFrom (a Secrets Manager or SSM Parameter Store ARN) resolve to value.
func (c *Cloud) PutSecret(valueFrom, value string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.secrets[valueFrom] = value
}

type bucket struct {
	tokens float64
	at     time.Time
}

// begin counts a call of op and applies injected failures, the context and throttling. It is
// called with c.mu held, and runs the cloud's lazy housekeeping.
func (c *Cloud) begin(ctx context.Context, op string) error {
	c.calls[op]++
	if err := ctx.Err(); err != nil {
		return err
	}
	if errs := c.fail[op]; len(errs) > 0 {
		c.fail[op] = errs[1:]
		return errs[0]
	}
	if err := c.failAll[op]; err != nil {
		return err
	}
	if r, ok := c.opts.Throttle[op]; ok {
		now := c.clock.Now()
		b := c.buckets[op]
		if b == nil {
			b = &bucket{tokens: float64(r.Burst), at: now}
			c.buckets[op] = b
		}
		b.tokens += now.Sub(b.at).Seconds() * r.PerSecond
		if b.tokens > float64(r.Burst) {
			b.tokens = float64(r.Burst)
		}
		b.at = now
		if b.tokens < 1 {
			c.throttled[op]++
			return apiError("ThrottlingException", "Rate exceeded")
		}
		b.tokens--
	}
	c.housekeep()
	return nil
}

// housekeep applies what time did since the last call: instances that registered, tasks
// placed on new capacity or timed out in PROVISIONING, stopped tasks forgotten.
func (c *Cloud) housekeep() {
	now := c.clock.Now()
	for _, g := range c.sortedASGs() {
		if g.units() < g.desired {
			g.resize(c, g.desired) // launches that failed are retried
		}
		g.registerDue(c, now)
	}
	c.lifecycleDue(now)
	for _, t := range c.order {
		if t.lastStatus == statusProvisioning && t.instance == nil && t.capacityProvider != "" {
			c.tryPlaceProvisioning(t, now)
		}
	}
	if c.opts.ManagedScalingDelay > 0 {
		c.managedScaling(now)
	}
	kept := c.order[:0]
	for _, t := range c.order {
		if t.lastStatus == statusStopped && now.Sub(*t.stoppedAt) >= c.opts.ForgetAfter {
			delete(c.tasks, t.arn)
			continue
		}
		kept = append(kept, t)
	}
	for i := len(kept); i < len(c.order); i++ {
		c.order[i] = nil
	}
	c.order = kept
}

func (c *Cloud) sortedASGs() []*asg {
	out := make([]*asg, 0, len(c.asgs))
	for _, g := range c.asgs {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func apiError(code, format string, args ...any) error {
	return &smithy.GenericAPIError{Code: code, Message: fmt.Sprintf(format, args...), Fault: smithy.FaultClient}
}

func (c *Cloud) arn(service, resource string) string {
	return fmt.Sprintf("arn:aws:%s:%s:%s:%s", service, c.opts.Region, c.opts.AccountID, resource)
}

// hexID returns a fresh identifier of n hex digits, unique in this cloud.
func (c *Cloud) hexID(n int) string {
	c.seq++
	s := fmt.Sprintf("%0*x", n, c.seq)
	// Spread the digits so identifiers do not share long prefixes, as real ones do not.
	return fmt.Sprintf("%08x", uint32(c.seq)*2654435761)[:min(8, n)] + s[min(8, n):]
}

func ptr[T any](v T) *T { return &v }

func timePtr(t time.Time) *time.Time { return &t }
