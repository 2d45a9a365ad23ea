package awsfake

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hashike/hashike/ecs"
)

// The fake's Amazon SQS: standard queues with long polling and visibility timeouts, and an
// EventBridge rule per events queue that sends it an "ECS Task State Change" event, in the
// real envelope and detail shape, each time a task changes (every version). ReceiveMessage
// and DeleteMessageBatch are counted, throttled and failed like the ECS operations.

// Event names the task state change an EventDelivery decides about.
type Event struct {
	TaskArn    string
	LastStatus string
	Version    int64
}

// EventDelivery shapes what an events queue receives, so tests can prove the polling fallback.
type EventDelivery struct {
	// Drop loses the events it returns true for, as a failed rule target does.
	Drop func(Event) bool
	// Delay is how long after the change an event becomes visible in the queue.
	Delay time.Duration
}

// defaultVisibility is a new queue's visibility timeout, as SQS's default.
const defaultVisibility = 30 * time.Second

type queue struct {
	url        string
	events     bool // the target of the task state change rule
	delivery   EventDelivery
	visibility time.Duration
	msgs       []*message
	issued     map[string]bool // receipt handles ever given out
	notify     chan struct{}   // closed and replaced when a message is sent
}

type message struct {
	id, body, md5 string
	visibleAt     time.Time
	receipt       string
	receives      int
}

// SQS returns the Amazon SQS client.
func (c *Cloud) SQS() ecs.SQSAPI { return sqsClient{c} }

// AddEventsQueue creates a queue at url and routes every task state change to it, as an
// EventBridge rule {"source":["aws.ecs"],"detail-type":["ECS Task State Change"]} targeting
// the queue does.
func (c *Cloud) AddEventsQueue(url string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addQueue(url).events = true
}

// AddQueue creates a plain queue at url.
func (c *Cloud) AddQueue(url string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addQueue(url)
}

func (c *Cloud) addQueue(url string) *queue {
	if c.queues == nil {
		c.queues = map[string]*queue{}
	}
	q := c.queues[url]
	if q == nil {
		q = &queue{url: url, visibility: defaultVisibility, issued: map[string]bool{}, notify: make(chan struct{})}
		c.queues[url] = q
	}
	return q
}

// SetEventDelivery changes how the events queue at url receives events from now on.
func (c *Cloud) SetEventDelivery(url string, d EventDelivery) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addQueue(url).delivery = d
}

// SendMessage puts body on the queue at url as any producer would, and returns its ID.
func (c *Cloud) SendMessage(url, body string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addQueue(url).send(c, body, c.clock.Now())
}

// Messages returns how many messages the queue at url holds, in flight or not: those sent
// and not yet deleted.
func (c *Cloud) Messages(url string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if q := c.queues[url]; q != nil {
		return len(q.msgs)
	}
	return 0
}

func (q *queue) send(c *Cloud, body string, visibleAt time.Time) string {
	sum := md5.Sum([]byte(body))
	m := &message{id: uuid(c), body: body, md5: hex.EncodeToString(sum[:]), visibleAt: visibleAt}
	q.msgs = append(q.msgs, m)
	close(q.notify)
	q.notify = make(chan struct{})
	return m.id
}

func uuid(c *Cloud) string {
	h := c.hexID(32)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// publishTaskEvent sends the task's current state to every events queue (c.mu held). It is
// called on every change, after the task's version was incremented.
func (c *Cloud) publishTaskEvent(t *task) {
	if len(c.queues) == 0 {
		return
	}
	var body []byte
	now := c.clock.Now()
	urls := make([]string, 0, len(c.queues))
	for u, q := range c.queues {
		if q.events {
			urls = append(urls, u)
		}
	}
	sort.Strings(urls)
	for _, u := range urls {
		q := c.queues[u]
		if q.delivery.Drop != nil && q.delivery.Drop(Event{TaskArn: t.arn, LastStatus: t.lastStatus, Version: t.version}) {
			continue
		}
		if body == nil {
			body = c.taskEvent(t, now)
		}
		q.send(c, string(body), now.Add(q.delivery.Delay))
	}
}

// eventTime formats as EventBridge does: ISO 8601 in UTC, milliseconds in the detail.
func eventTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

type eventEnvelope struct {
	Version    string      `json:"version"`
	ID         string      `json:"id"`
	DetailType string      `json:"detail-type"`
	Source     string      `json:"source"`
	Account    string      `json:"account"`
	Time       string      `json:"time"`
	Region     string      `json:"region"`
	Resources  []string    `json:"resources"`
	Detail     eventDetail `json:"detail"`
}

type eventDetail struct {
	Attachments          []any            `json:"attachments"`
	AvailabilityZone     string           `json:"availabilityZone,omitempty"`
	CapacityProviderName string           `json:"capacityProviderName,omitempty"`
	ClusterArn           string           `json:"clusterArn"`
	Connectivity         string           `json:"connectivity,omitempty"`
	ConnectivityAt       string           `json:"connectivityAt,omitempty"`
	ContainerInstanceArn string           `json:"containerInstanceArn,omitempty"`
	Containers           []eventContainer `json:"containers"`
	Cpu                  string           `json:"cpu,omitempty"`
	CreatedAt            string           `json:"createdAt"`
	DesiredStatus        string           `json:"desiredStatus"`
	ExecutionStoppedAt   string           `json:"executionStoppedAt,omitempty"`
	Group                string           `json:"group,omitempty"`
	LastStatus           string           `json:"lastStatus"`
	LaunchType           string           `json:"launchType,omitempty"`
	Memory               string           `json:"memory,omitempty"`
	Overrides            any              `json:"overrides"`
	PullStartedAt        string           `json:"pullStartedAt,omitempty"`
	PullStoppedAt        string           `json:"pullStoppedAt,omitempty"`
	StartedAt            string           `json:"startedAt,omitempty"`
	StartedBy            string           `json:"startedBy,omitempty"`
	StopCode             string           `json:"stopCode,omitempty"`
	StoppedAt            string           `json:"stoppedAt,omitempty"`
	StoppedReason        string           `json:"stoppedReason,omitempty"`
	StoppingAt           string           `json:"stoppingAt,omitempty"`
	TaskArn              string           `json:"taskArn"`
	TaskDefinitionArn    string           `json:"taskDefinitionArn"`
	UpdatedAt            string           `json:"updatedAt"`
	Version              int64            `json:"version"`
}

type eventContainer struct {
	ContainerArn      string `json:"containerArn"`
	LastStatus        string `json:"lastStatus"`
	Name              string `json:"name"`
	Image             string `json:"image,omitempty"`
	ImageDigest       string `json:"imageDigest,omitempty"`
	RuntimeID         string `json:"runtimeId,omitempty"`
	TaskArn           string `json:"taskArn"`
	NetworkInterfaces []any  `json:"networkInterfaces"`
	Cpu               string `json:"cpu,omitempty"`
	Memory            string `json:"memory,omitempty"`
	ExitCode          *int32 `json:"exitCode,omitempty"`
	Reason            string `json:"reason,omitempty"`
	HealthStatus      string `json:"healthStatus,omitempty"`
}

// taskEvent renders the task as an "ECS Task State Change" event (c.mu held).
func (c *Cloud) taskEvent(t *task, now time.Time) []byte {
	d := t.describe(false)
	s := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	detail := eventDetail{
		Attachments: []any{}, AvailabilityZone: s(d.AvailabilityZone), CapacityProviderName: s(d.CapacityProviderName),
		ClusterArn: s(d.ClusterArn), Connectivity: string(d.Connectivity), ConnectivityAt: eventTime(d.ConnectivityAt),
		ContainerInstanceArn: s(d.ContainerInstanceArn), Cpu: s(d.Cpu), CreatedAt: eventTime(d.CreatedAt),
		DesiredStatus: s(d.DesiredStatus), ExecutionStoppedAt: eventTime(d.ExecutionStoppedAt), Group: s(d.Group),
		LastStatus: s(d.LastStatus), LaunchType: string(d.LaunchType), Memory: s(d.Memory),
		Overrides: map[string]any{"containerOverrides": []any{}}, PullStartedAt: eventTime(d.PullStartedAt),
		PullStoppedAt: eventTime(d.PullStoppedAt), StartedAt: eventTime(d.StartedAt), StartedBy: s(d.StartedBy),
		StopCode: string(d.StopCode), StoppedAt: eventTime(d.StoppedAt), StoppedReason: s(d.StoppedReason),
		StoppingAt: eventTime(d.StoppingAt), TaskArn: s(d.TaskArn), TaskDefinitionArn: s(d.TaskDefinitionArn),
		UpdatedAt: eventTime(&now), Version: d.Version, Containers: []eventContainer{},
	}
	for _, ctr := range d.Containers {
		detail.Containers = append(detail.Containers, eventContainer{
			ContainerArn: s(ctr.ContainerArn), LastStatus: s(ctr.LastStatus), Name: s(ctr.Name), Image: s(ctr.Image),
			ImageDigest: s(ctr.ImageDigest), RuntimeID: s(ctr.RuntimeId), TaskArn: s(ctr.TaskArn),
			NetworkInterfaces: []any{}, Cpu: s(ctr.Cpu), Memory: s(ctr.Memory), ExitCode: ctr.ExitCode,
			Reason: s(ctr.Reason), HealthStatus: healthOf(ctr.HealthStatus),
		})
	}
	body, err := json.Marshal(eventEnvelope{
		Version: "0", ID: uuid(c), DetailType: ecs.EventDetailType, Source: ecs.EventSource,
		Account: c.opts.AccountID, Time: now.UTC().Format(time.RFC3339), Region: c.opts.Region,
		Resources: []string{t.arn}, Detail: detail,
	})
	if err != nil {
		panic(err) // plain structs of strings: cannot happen
	}
	return body
}

func healthOf(h types.HealthStatus) string { return string(h) }

type sqsClient struct{ c *Cloud }

func (c *Cloud) queueOf(url *string) (*queue, error) {
	if url == nil || *url == "" {
		return nil, apiError("MissingParameter", "The request must contain the parameter QueueUrl.")
	}
	q := c.queues[*url]
	if q == nil {
		return nil, apiError("QueueDoesNotExist", "The specified queue does not exist.")
	}
	return q, nil
}

// ReceiveMessage returns up to MaxNumberOfMessages visible messages, oldest first, hiding them
// for the visibility timeout; with WaitTimeSeconds it waits on the clock for one to arrive.
func (s sqsClient) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	c := s.c
	c.mu.Lock()
	if err := c.begin(ctx, "ReceiveMessage"); err != nil {
		c.mu.Unlock()
		return nil, err
	}
	q, err := c.queueOf(in.QueueUrl)
	if err != nil {
		c.mu.Unlock()
		return nil, err
	}
	n := int(in.MaxNumberOfMessages)
	if n == 0 {
		n = 1
	}
	if n < 1 || n > 10 || in.WaitTimeSeconds < 0 || in.WaitTimeSeconds > 20 {
		c.mu.Unlock()
		return nil, apiError("InvalidParameterValue", "Value %d for parameter MaxNumberOfMessages or %d for WaitTimeSeconds is invalid.", in.MaxNumberOfMessages, in.WaitTimeSeconds)
	}
	visibility := q.visibility
	if in.VisibilityTimeout > 0 {
		visibility = time.Duration(in.VisibilityTimeout) * time.Second
	}
	deadline := c.clock.Now().Add(time.Duration(in.WaitTimeSeconds) * time.Second)
	for {
		now := c.clock.Now()
		out := &sqs.ReceiveMessageOutput{}
		for _, m := range q.msgs {
			if len(out.Messages) == n {
				break
			}
			if m.visibleAt.After(now) {
				continue
			}
			m.receives++
			m.visibleAt = now.Add(visibility)
			m.receipt = fmt.Sprintf("%s#%d", m.id, m.receives)
			q.issued[m.receipt] = true
			out.Messages = append(out.Messages, sqstypes.Message{
				MessageId: ptr(m.id), ReceiptHandle: ptr(m.receipt), Body: ptr(m.body), MD5OfBody: ptr(m.md5),
			})
		}
		if len(out.Messages) > 0 || !now.Before(deadline) {
			c.mu.Unlock()
			return out, nil
		}
		next := deadline
		for _, m := range q.msgs {
			if m.visibleAt.Before(next) {
				next = m.visibleAt
			}
		}
		notify := q.notify
		c.mu.Unlock()
		select {
		case <-notify:
		case <-c.clock.After(next.Sub(now)):
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.closed:
			return &sqs.ReceiveMessageOutput{}, nil
		}
		c.mu.Lock()
	}
}

// DeleteMessageBatch deletes up to 10 messages by receipt handle. Deleting a message already
// deleted succeeds, as in SQS; a receipt handle never issued fails its entry.
func (s sqsClient) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "DeleteMessageBatch"); err != nil {
		return nil, err
	}
	q, err := c.queueOf(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	switch {
	case len(in.Entries) == 0:
		return nil, apiError("EmptyBatchRequest", "There should be at least one DeleteMessageBatchRequestEntry in the request.")
	case len(in.Entries) > 10:
		return nil, apiError("TooManyEntriesInBatchRequest", "Maximum number of entries per request are 10. You have sent %d.", len(in.Entries))
	}
	ids := map[string]bool{}
	for _, e := range in.Entries {
		if ids[deref(e.Id)] {
			return nil, apiError("BatchEntryIdsNotDistinct", "Id %s repeated.", deref(e.Id))
		}
		ids[deref(e.Id)] = true
	}
	out := &sqs.DeleteMessageBatchOutput{Successful: []sqstypes.DeleteMessageBatchResultEntry{}, Failed: []sqstypes.BatchResultErrorEntry{}}
	for _, e := range in.Entries {
		rh := deref(e.ReceiptHandle)
		if !q.issued[rh] {
			out.Failed = append(out.Failed, sqstypes.BatchResultErrorEntry{
				Id: e.Id, Code: ptr("ReceiptHandleIsInvalid"), SenderFault: true, Message: ptr("The input receipt handle is invalid."),
			})
			continue
		}
		for i, m := range q.msgs {
			if m.receipt == rh {
				q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
				break
			}
		}
		out.Successful = append(out.Successful, sqstypes.DeleteMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}
