package ecs

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/hashike/hashike"
)

// poller is the one DescribeTasks loop of a Backend. Every waiting Wait and Logs subscribes
// to its task; a round describes every watched task that has not stopped, 100 ARNs per call
// and cluster, and wakes the subscribers of the tasks that changed. Between rounds it waits
// with capped exponential backoff and jitter: PollMin after a round in which something
// changed, doubling up to PollMax while nothing does, and up to 4*PollMax while ECS throttles.
// A round of n calls is followed by at least n*PollMin, so the call rate stays at or below one
// per PollMin however many runs wait. A new subscription shortens the wait to that minimum.
//
// A task covered by a healthy events queue (events.go) is described when first watched, then
// only every EventsPoll: its changes arrive as events, which update the same state and wake
// the same waiters. Versions order the two sources: neither overwrites a newer state.
//
// The loop's goroutine is owned by the poller: it starts with the first subscription and
// returns when the last one ends, so an idle Backend runs nothing. Events consumers are owned
// the same way, per queue.
type poller struct {
	b         *Backend
	kick      chan struct{}
	calls     atomic.Int64
	mu        sync.Mutex
	watches   map[watchKey]*watch
	consumers map[string]*consumer // by queue URL
	running   bool
}

type watchKey struct{ cluster, task string }

// watch is the poller's knowledge of one task.
type watch struct {
	refs    int
	seen    bool
	task    types.Task
	status  hashike.TaskStatus
	sig     string
	err     error
	changed chan struct{} // closed and replaced when the task changes
	queue   string        // events queue covering the task, "" for none
	dueAt   time.Time     // when a covered task is next described
}

// observation is a copy of a watch's state.
type observation struct {
	seen    bool
	task    types.Task
	status  hashike.TaskStatus
	err     error
	changed <-chan struct{}
}

func (o observation) final() bool {
	return o.seen && (o.err != nil || o.status.LastStatus == hashike.TaskStopped)
}

func newPoller(b *Backend) *poller {
	return &poller{b: b, kick: make(chan struct{}, 1), watches: map[watchKey]*watch{}, consumers: map[string]*consumer{}}
}

// taskID is the last part of a task ARN (an ID stays an ID).
func taskID(arn string) string {
	if i := strings.LastIndexByte(arn, '/'); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

func clusterName(c string) string {
	if i := strings.LastIndexByte(c, '/'); i >= 0 && strings.HasPrefix(c, "arn:") {
		return c[i+1:]
	}
	return c
}

// subscribe watches the task until the returned func is called.
func (p *poller) subscribe(cluster, arn string) (watchKey, func()) {
	k := watchKey{clusterName(cluster), taskID(arn)}
	queue := p.b.eventsQueue(k)
	p.mu.Lock()
	w := p.watches[k]
	if w == nil {
		w = &watch{changed: make(chan struct{}), queue: queue}
		p.watches[k] = w
		if queue != "" {
			p.attach(queue)
		}
	}
	w.refs++
	if !p.running {
		p.running = true
		go p.loop()
	}
	fresh := !w.seen
	p.mu.Unlock()
	if fresh {
		p.wake()
	}
	var once sync.Once
	return k, func() {
		once.Do(func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			if w.refs--; w.refs == 0 {
				delete(p.watches, k)
				if w.queue != "" {
					p.detach(w.queue)
				}
			}
		})
	}
}

// wake asks for a round as soon as the rate budget allows.
func (p *poller) wake() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *poller) observe(k watchKey) observation {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.watches[k]
	if w == nil {
		return observation{}
	}
	return observation{seen: w.seen, task: w.task, status: w.status, err: w.err, changed: w.changed}
}

// loop runs rounds while anything is watched.
func (p *poller) loop() {
	b := p.b
	interval := b.pollMin
	for {
		now := b.clock.Now()
		p.mu.Lock()
		if len(p.watches) == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		byCluster := map[string][]string{}
		var notDue []watchKey
		for k, w := range p.watches {
			if w.seen && (w.err != nil || w.status.LastStatus == hashike.TaskStopped) {
				continue // final: nothing more to learn
			}
			if w.seen && p.covered(w) {
				if now.Before(w.dueAt) {
					notDue = append(notDue, k) // events tell us; describe it only now and then
					continue
				}
				w.dueAt = now.Add(b.jitter(b.eventsPoll))
			}
			byCluster[k.cluster] = append(byCluster[k.cluster], k.task)
		}
		// A covered task rides along in a call made anyway: that costs nothing and keeps the
		// covered tasks of a cluster due together, in one call, rather than one call each.
		for _, k := range notDue {
			if ids := byCluster[k.cluster]; len(ids)%100 != 0 {
				p.watches[k].dueAt = now.Add(b.jitter(b.eventsPoll))
				byCluster[k.cluster] = append(ids, k.task)
			}
		}
		p.mu.Unlock()

		changed, slowDown, calls := p.round(byCluster)
		switch {
		case slowDown:
			interval = min(interval*2, 4*b.pollMax)
		case changed:
			interval = b.pollMin
		default:
			interval = min(interval*2, b.pollMax)
		}
		roundEnd := b.clock.Now()
		budget := time.Duration(calls) * b.pollMin
		pause := max(b.jitter(interval), budget)
		if next, ok := p.nextDue(); ok {
			pause = max(next.Sub(roundEnd), budget)
		}
		select {
		case <-b.clock.After(pause):
		case <-p.kick:
			if !slowDown {
				interval = b.pollMin
			}
			if rest := roundEnd.Add(budget).Sub(b.clock.Now()); rest > 0 {
				<-b.clock.After(rest)
			}
		}
	}
}

// nextDue returns when the next covered task is due if every task still to be learned about
// is covered by a healthy events queue; ok is false when some task is polled every round.
func (p *poller) nextDue() (next time.Time, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, w := range p.watches {
		if w.seen && (w.err != nil || w.status.LastStatus == hashike.TaskStopped) {
			continue
		}
		if !w.seen || !p.covered(w) {
			return time.Time{}, false
		}
		if !ok || w.dueAt.Before(next) {
			next, ok = w.dueAt, true
		}
	}
	return next, ok
}

// round describes the given tasks and records what changed. It reports whether anything
// changed, whether ECS asked to slow down, and how many calls it made.
func (p *poller) round(byCluster map[string][]string) (changed, slowDown bool, calls int) {
	clusters := make([]string, 0, len(byCluster))
	for c := range byCluster {
		clusters = append(clusters, c)
	}
	slices.Sort(clusters)
	for _, cluster := range clusters {
		ids := byCluster[cluster]
		slices.Sort(ids)
		for start := 0; start < len(ids); start += 100 {
			batch := ids[start:min(start+100, len(ids))]
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			out, err := p.b.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: batch, Include: []types.TaskField{types.TaskFieldTags}})
			cancel()
			calls++
			p.calls.Add(1)
			if err != nil {
				if retryable(err) {
					slowDown = true
					p.b.log.Debug("describe tasks", "cluster", cluster, "err", err)
					continue
				}
				p.deliverError(cluster, batch, classify("describe tasks in "+cluster, err))
				changed = true
				continue
			}
			if p.record(cluster, out) {
				changed = true
			}
		}
	}
	return changed, slowDown, calls
}

func (p *poller) record(cluster string, out *ecs.DescribeTasksOutput) bool {
	changed := false
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range out.Tasks {
		w := p.watches[watchKey{cluster, taskID(aws.ToString(t.TaskArn))}]
		if w == nil {
			continue
		}
		if w.seen && w.err == nil && t.Version != 0 && t.Version < w.task.Version {
			continue // an event already told us more
		}
		if p.set(w, t) {
			changed = true
		}
	}
	for _, f := range out.Failures {
		id := taskID(aws.ToString(f.Arn))
		w := p.watches[watchKey{cluster, id}]
		if w == nil || (w.seen && w.err != nil) {
			continue
		}
		w.seen = true
		w.err = hashike.Errorf(hashike.ENotFound, "task %s not found in cluster %s (%s; ECS forgets stopped tasks after about an hour)",
			aws.ToString(f.Arn), cluster, aws.ToString(f.Reason))
		close(w.changed)
		w.changed = make(chan struct{})
		changed = true
	}
	return changed
}

// set records t as w's task, waking w's waiters when its status changed (p.mu held).
func (p *poller) set(w *watch, t types.Task) bool {
	st := taskStatus(t)
	sig, _ := json.Marshal(st)
	if w.seen && w.err == nil && string(sig) == w.sig {
		w.task = t // the same status; keep the newer version and tags
		return false
	}
	w.seen, w.task, w.status, w.sig, w.err = true, t, st, string(sig), nil
	close(w.changed)
	w.changed = make(chan struct{})
	return true
}

func (p *poller) deliverError(cluster string, ids []string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		if w := p.watches[watchKey{cluster, id}]; w != nil {
			w.seen, w.err = true, err
			close(w.changed)
			w.changed = make(chan struct{})
		}
	}
}

// Wait implements hashike.Backend on the shared poller. A task still PROVISIONING when its
// capacity timeout (tag hashike:capacity-timeout, from the job's capacityTimeout) has passed
// since it was created is stopped; its containers then have no exit code and the run records a
// start failure with the stop reason.
func (b *Backend) Wait(ctx context.Context, ref hashike.TaskRef) (hashike.TaskStatus, error) {
	k, cancel := b.poller.subscribe(clusterOf(ref), ref.ID)
	defer cancel()
	stopAsked := false
	for {
		o := b.poller.observe(k)
		if o.final() {
			b.forgetQueue(ref)
			if o.err != nil {
				return hashike.TaskStatus{}, o.err
			}
			return o.status, nil
		}
		var capacity <-chan time.Time
		if o.seen && o.status.LastStatus == hashike.TaskProvisioning && !stopAsked && o.task.CreatedAt != nil {
			limit := capacityTimeout(o.task)
			left := o.task.CreatedAt.Add(limit).Sub(b.clock.Now())
			if left <= 0 {
				reason := fmt.Sprintf("capacity timeout: task still PROVISIONING after %s", limit)
				if err := b.Stop(ctx, ref, reason, -1); err != nil {
					return hashike.TaskStatus{}, err
				}
				stopAsked = true
				b.poller.wake()
				continue
			}
			capacity = b.clock.After(left)
		}
		select {
		case <-o.changed:
		case <-capacity:
		case <-ctx.Done():
			return hashike.TaskStatus{}, ctx.Err()
		}
	}
}

func capacityTimeout(t types.Task) time.Duration {
	if d, err := time.ParseDuration(tagValue(t.Tags, TagCapacityTimeout)); err == nil && d > 0 {
		return d
	}
	return hashike.DefaultCapacityTimeout
}
