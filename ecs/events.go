package ecs

// Task state events.
//
// A job may name an SQS queue (ecs.eventsQueueUrl) that an EventBridge rule fills with the
// account's "ECS Task State Change" events:
//
//	{"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"]}
//
// (narrowed to the clusters hashike uses if the account runs other work). Those events are the
// primary status source: they arrive within seconds of each change and cost no DescribeTasks
// calls, which ECS throttles per account. Polling stays as the fallback, because EventBridge
// gives no delivery guarantee a waiting run could rely on and a rule or queue policy can be
// wrong without anyone noticing.
//
// Which queue covers a task. Wait gets only a TaskRef, so the backend remembers the queue of
// every task whose job Start or Find saw (a map from task to queue URL, dropped when Wait
// sees the task stop or Remove is called). A task it never saw the job of, as after a
// restart, is covered by Config.EventsQueueURL when set. The root package's TaskRef is left
// as it is: the queue is configuration, not identity.
//
// The consumer. The poller runs one consumer goroutine per queue while any watched task is
// covered by it, and stops it with the last such watch. It long-polls ReceiveMessage (up to 10
// messages, 20 s), turns each event's detail into the task as DescribeTasks would show it and
// hands it to the poller, which wakes the task's waiters exactly as a DescribeTasks answer
// would. ECS increments a task's version with every change and DescribeTasks reports the same
// counter, so an event whose detail.version is not newer than what the poller knows (from an
// event or from DescribeTasks) is ignored: duplicates and out-of-order deliveries are harmless.
//
// What is deleted. The queue is meant to be hashike's (one per deployment, shared by its
// processes):
//   - an event about a task this process watches is deleted once applied or found stale;
//   - a message that is not an ECS task state change event, or is malformed, is logged and
//     deleted (a poison message would otherwise come back forever);
//   - an event about a task nobody here watches is left for the other hashike processes that
//     share the queue (it becomes visible again after the queue's visibility timeout), unless
//     it is older than leftoverAge: by then any waiter has described the task at least once
//     and the event can tell nobody anything. Give the queue a short retention period (an hour
//     is plenty) so that leftovers of other processes do not pile up either.
//
// Health and polling. While a consumer's last ReceiveMessage succeeded its tasks are
// described only every EventsPoll (default 4*PollMax) instead of every poll interval; a task is
// always described once when it is first watched. When ReceiveMessage fails the consumer backs
// off (PollMin doubling to PollMax) and its tasks are polled as if there were no queue until a
// ReceiveMessage succeeds again. A rule that delivers nothing cannot be told from a quiet
// queue: its tasks then end their waits through polling, EventsPoll late at worst.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hashike/hashike"
)

// EventDetailType and EventSource identify the events the consumer reads.
const (
	EventDetailType = "ECS Task State Change"
	EventSource     = "aws.ecs"
)

// leftoverAge is the age after which an event about a task nobody here watches is deleted.
func (b *Backend) leftoverAge() time.Duration { return max(5*time.Minute, 8*b.pollMax) }

// taskEvent is the EventBridge envelope of a task state change event. Unknown fields are
// ignored: AWS adds fields over time.
type taskEvent struct {
	Version    string     `json:"version"`
	ID         string     `json:"id"`
	DetailType string     `json:"detail-type"`
	Source     string     `json:"source"`
	Time       time.Time  `json:"time"`
	Detail     *eventTask `json:"detail"`
}

// eventTask is the part of the detail (the task in DescribeTasks' JSON shape, timestamps as
// ISO 8601 strings) the backend reads.
type eventTask struct {
	TaskArn           string           `json:"taskArn"`
	ClusterArn        string           `json:"clusterArn"`
	TaskDefinitionArn string           `json:"taskDefinitionArn"`
	StartedBy         string           `json:"startedBy"`
	LastStatus        string           `json:"lastStatus"`
	DesiredStatus     string           `json:"desiredStatus"`
	StopCode          string           `json:"stopCode"`
	StoppedReason     string           `json:"stoppedReason"`
	CreatedAt         *time.Time       `json:"createdAt"`
	StartedAt         *time.Time       `json:"startedAt"`
	StoppingAt        *time.Time       `json:"stoppingAt"`
	StoppedAt         *time.Time       `json:"stoppedAt"`
	Version           int64            `json:"version"`
	Containers        []eventContainer `json:"containers"`
}

type eventContainer struct {
	ContainerArn string `json:"containerArn"`
	Name         string `json:"name"`
	LastStatus   string `json:"lastStatus"`
	ExitCode     *int32 `json:"exitCode"`
	Reason       string `json:"reason"`
	HealthStatus string `json:"healthStatus"`
}

// errNotTaskEvent marks a well-formed message that is some other event.
var errNotTaskEvent = errors.New("not an ECS task state change event")

// parseEvent reads an SQS message body written by an EventBridge rule with the queue as its
// target (the event itself, no wrapping).
func parseEvent(body string) (taskEvent, error) {
	var ev taskEvent
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		return taskEvent{}, fmt.Errorf("parse event: %w", err)
	}
	if ev.Source != EventSource || ev.DetailType != EventDetailType {
		return taskEvent{}, fmt.Errorf("%w: source %q, detail-type %q", errNotTaskEvent, ev.Source, ev.DetailType)
	}
	d := ev.Detail
	switch {
	case d == nil:
		return taskEvent{}, errors.New("event " + ev.ID + " has no detail")
	case d.TaskArn == "" || d.ClusterArn == "" || d.LastStatus == "":
		return taskEvent{}, errors.New("event " + ev.ID + " lacks taskArn, clusterArn or lastStatus")
	case d.Version <= 0:
		return taskEvent{}, errors.New("event " + ev.ID + " has no detail.version to order it by")
	}
	return ev, nil
}

// task is the detail as DescribeTasks would return it (without tags: events carry none).
func (d *eventTask) task() types.Task {
	str := func(s string) *string {
		if s == "" {
			return nil
		}
		return aws.String(s)
	}
	t := types.Task{
		TaskArn: str(d.TaskArn), ClusterArn: str(d.ClusterArn), TaskDefinitionArn: str(d.TaskDefinitionArn),
		StartedBy: str(d.StartedBy), LastStatus: str(d.LastStatus), DesiredStatus: str(d.DesiredStatus),
		StopCode: types.TaskStopCode(d.StopCode), StoppedReason: str(d.StoppedReason),
		CreatedAt: d.CreatedAt, StartedAt: d.StartedAt, StoppingAt: d.StoppingAt, StoppedAt: d.StoppedAt,
		Version: d.Version,
	}
	for _, c := range d.Containers {
		t.Containers = append(t.Containers, types.Container{
			ContainerArn: str(c.ContainerArn), TaskArn: str(d.TaskArn), Name: str(c.Name), LastStatus: str(c.LastStatus),
			ExitCode: c.ExitCode, Reason: str(c.Reason), HealthStatus: types.HealthStatus(c.HealthStatus),
		})
	}
	return t
}

// consumer is the poller's record of one queue's consumer goroutine.
type consumer struct {
	url     string
	watches int  // watches covered by the queue; the goroutine stops at zero
	healthy bool // the last ReceiveMessage succeeded (true until one fails)
	cancel  context.CancelFunc
}

// attach counts a watch covered by url, starting its consumer if needed (p.mu held).
func (p *poller) attach(url string) {
	c := p.consumers[url]
	if c == nil {
		ctx, cancel := context.WithCancel(context.Background())
		c = &consumer{url: url, healthy: true, cancel: cancel}
		p.consumers[url] = c
		go p.consume(ctx, c)
	}
	c.watches++
}

// detach uncounts a watch, stopping the consumer with the last one (p.mu held).
func (p *poller) detach(url string) {
	c := p.consumers[url]
	if c == nil {
		return
	}
	if c.watches--; c.watches == 0 {
		c.cancel()
		delete(p.consumers, url)
	}
}

// covered reports whether w's task is covered by a healthy events queue (p.mu held).
func (p *poller) covered(w *watch) bool {
	if w.queue == "" {
		return false
	}
	c := p.consumers[w.queue]
	return c != nil && c.healthy
}

func (p *poller) setHealthy(c *consumer, ok bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.healthy == ok {
		return
	}
	c.healthy = ok
	if ok {
		p.b.log.Info("events queue receiving again", "queue", c.url)
		return
	}
	p.b.log.Warn("events queue failing, polling its tasks", "queue", c.url, "err", err)
	p.wake() // re-plan: its tasks are polled at the normal interval now
}

// consume is a consumer's goroutine: it runs until ctx is cancelled.
func (p *poller) consume(ctx context.Context, c *consumer) {
	b := p.b
	backoff := b.pollMin
	for ctx.Err() == nil {
		out, err := b.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(c.url), MaxNumberOfMessages: 10, WaitTimeSeconds: 20,
		})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			p.setHealthy(c, false, fmt.Errorf("receive messages from %s: %w", c.url, err))
			if b.sleep(ctx, b.jitter(backoff)) != nil {
				return
			}
			backoff = min(backoff*2, b.pollMax)
			continue
		}
		backoff = b.pollMin
		p.setHealthy(c, true, nil)
		var done []sqstypes.DeleteMessageBatchRequestEntry
		for i, m := range out.Messages {
			if p.handle(c.url, m) {
				done = append(done, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
			}
		}
		if len(done) > 0 {
			p.deleteMessages(ctx, c.url, done)
		}
	}
}

// handle applies one message and reports whether to delete it.
func (p *poller) handle(url string, m sqstypes.Message) bool {
	b := p.b
	ev, err := parseEvent(aws.ToString(m.Body))
	if errors.Is(err, errNotTaskEvent) {
		b.log.Debug("events queue: deleting a message that is not a task state change", "queue", url, "message", aws.ToString(m.MessageId), "err", err)
		return true
	}
	if err != nil {
		b.log.Warn("events queue: deleting a malformed message", "queue", url, "message", aws.ToString(m.MessageId), "err", err)
		return true
	}
	if p.apply(ev.Detail.task()) {
		return true
	}
	return b.clock.Now().Sub(ev.Time) > b.leftoverAge()
}

// deleteMessages deletes handled messages, even when the consumer is stopping (the event
// that ended the last wait stops it); a failure is only logged: the messages come back and are
// handled again, which their versions make harmless.
func (p *poller) deleteMessages(ctx context.Context, url string, entries []sqstypes.DeleteMessageBatchRequestEntry) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	out, err := p.b.sqs.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
	if err != nil {
		p.b.log.Warn("events queue: delete messages", "queue", url, "err", err)
		return
	}
	for _, f := range out.Failed {
		p.b.log.Warn("events queue: delete message", "queue", url, "id", aws.ToString(f.Id), "code", aws.ToString(f.Code), "err", aws.ToString(f.Message))
	}
}

// apply records a task seen in an event; false when nobody here watches it.
func (p *poller) apply(t types.Task) bool {
	k := watchKey{clusterName(aws.ToString(t.ClusterArn)), taskID(aws.ToString(t.TaskArn))}
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.watches[k]
	if w == nil {
		return false
	}
	if w.seen && (w.err != nil || t.Version <= w.task.Version) {
		return true // stale, a duplicate, or a task DescribeTasks no longer knows
	}
	t.Tags = w.task.Tags
	p.set(w, t)
	return true
}

// eventsQueue is the queue covering the task, "" for none.
func (b *Backend) eventsQueue(k watchKey) string {
	if b.sqs == nil {
		return ""
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if u, ok := b.queues[k]; ok {
		return u
	}
	return b.defaultQueue
}

func refKey(ref hashike.TaskRef) watchKey {
	return watchKey{clusterName(clusterOf(ref)), taskID(ref.ID)}
}

// noteQueue remembers the events queue a job names for its task.
func (b *Backend) noteQueue(ref hashike.TaskRef, url string) {
	if url == "" || b.sqs == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.queues[refKey(ref)] = url
}

func (b *Backend) forgetQueue(ref hashike.TaskRef) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.queues, refKey(ref))
}
