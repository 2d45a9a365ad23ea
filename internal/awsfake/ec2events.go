package awsfake

// EventBridge rules beyond the ECS task state changes, and the EC2 events they carry: spot
// interruption warnings and rebalance recommendations.
//
// A spot instance EC2 reclaims gets an "EC2 Spot Instance Interruption Warning" two minutes
// before it is terminated. The ECS agent does nothing about it unless
// ECS_ENABLE_SPOT_INSTANCE_DRAINING is set (off by default; the fake models the default):
// the instance stays ACTIVE and its tasks run until the host goes away, when ECS stops them
// with stopCode TerminationNotice and the reason "Host EC2 (instance i-...) terminated.",
// as for any terminated instance. (The stopCode SpotInterruption is Fargate Spot's.) An
// instance of an Auto Scaling group leaves it then, and the group launches a replacement
// to keep its desired capacity (at once: the group's terminate hooks are not run for a
// reclaimed instance, a simplification). An "EC2 Instance Rebalance Recommendation" only
// warns.

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Detail types of the EC2 events (source aws.ec2).
const (
	DetailSpotInterruption = "EC2 Spot Instance Interruption Warning"
	DetailRebalance        = "EC2 Instance Rebalance Recommendation"
)

// SpotNotice is how long before EC2 reclaims a spot instance its warning comes.
const SpotNotice = 2 * time.Minute

// EventRule is an EventBridge rule's event pattern on source and detail-type, with an SQS
// queue as its target: an event matches when its source is one of Sources and its
// detail-type one of DetailTypes (an empty list matches any).
type EventRule struct {
	Sources     []string
	DetailTypes []string
}

type eventRule struct {
	queue string
	EventRule
}

func (r eventRule) matches(source, detailType string) bool {
	return (len(r.Sources) == 0 || slices.Contains(r.Sources, source)) &&
		(len(r.DetailTypes) == 0 || slices.Contains(r.DetailTypes, detailType))
}

// AddEventRule creates the queue at url if needed and sends it the Auto Scaling and EC2
// events the rule matches, as a rule such as
//
//	{"source": ["aws.autoscaling", "aws.ec2"], "detail-type": ["EC2 Instance-terminate Lifecycle Action", ...]}
//
// with the queue as its target does. (ECS task state changes go to the queues of
// AddEventsQueue.)
func (c *Cloud) AddEventRule(url string, rule EventRule) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addQueue(url)
	c.life.rules = append(c.life.rules, eventRule{queue: url, EventRule: rule})
}

// envelope is an EventBridge event with its detail already rendered.
type envelope struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// publish sends an event to the queue of every matching rule, once per queue (c.mu held).
func (c *Cloud) publish(source, detailType string, resources []string, detail json.RawMessage, at time.Time) {
	var body []byte
	sent := map[string]bool{}
	for _, r := range c.life.rules {
		if sent[r.queue] || !r.matches(source, detailType) {
			continue
		}
		if body == nil {
			var err error
			body, err = json.Marshal(envelope{Version: "0", ID: uuid(c), DetailType: detailType, Source: source,
				Account: c.opts.AccountID, Time: at.UTC().Format(time.RFC3339), Region: c.opts.Region,
				Resources: resources, Detail: detail})
			if err != nil {
				panic(err) // strings and valid JSON only
			}
		}
		sent[r.queue] = true
		c.queues[r.queue].send(c, string(body), c.clock.Now())
	}
}

type reclaim struct {
	instance string
	at       time.Time
}

// InterruptSpot sends the spot interruption warning for an instance (of a group or added
// with AddInstance, by EC2 instance ID) and has EC2 reclaim it SpotNotice later.
func (c *Cloud) InterruptSpot(instanceID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mustInstance("InterruptSpot", instanceID)
	now := c.clock.Now()
	detail, _ := json.Marshal(map[string]string{"instance-id": instanceID, "instance-action": "terminate"})
	// As EC2 documents it: the instance's ARN names its zone, not region and account.
	c.publish("aws.ec2", DetailSpotInterruption, []string{"arn:aws:ec2:" + c.opts.Region + "a:instance/" + instanceID}, detail, now)
	c.life.reclaims = append(c.life.reclaims, reclaim{instance: instanceID, at: now.Add(SpotNotice)})
}

// RecommendRebalance sends an instance's rebalance recommendation: it is at elevated risk of
// interruption. Nothing else happens.
func (c *Cloud) RecommendRebalance(instanceID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mustInstance("RecommendRebalance", instanceID)
	detail, _ := json.Marshal(map[string]string{"instance-id": instanceID})
	c.publish("aws.ec2", DetailRebalance, []string{c.arn("ec2", "instance/"+instanceID)}, detail, c.clock.Now())
}

func (c *Cloud) mustInstance(op, id string) {
	for _, g := range c.asgs {
		for _, m := range slices.Concat(g.members, c.life.leaving[g.name]) {
			if m.id == id {
				return
			}
		}
	}
	for _, cl := range c.clusters {
		for _, in := range cl.instances {
			if in.ec2ID == id {
				return
			}
		}
	}
	panic("awsfake: " + op + ": no instance " + id)
}

// reclaimDue terminates the spot instances whose notice is over (c.mu held).
func (c *Cloud) reclaimDue(now time.Time) {
	kept := c.life.reclaims[:0]
	for _, r := range c.life.reclaims {
		if now.Before(r.at) {
			kept = append(kept, r)
			continue
		}
		c.reclaimInstance(r.instance)
	}
	c.life.reclaims = kept
}

func (c *Cloud) reclaimInstance(id string) {
	for _, g := range c.sortedASGs() {
		if k := slices.IndexFunc(g.members, func(m *asgInstance) bool { return m.id == id }); k >= 0 {
			m := g.members[k]
			g.members = slices.Delete(g.members, k, k+1)
			c.dropActions(m)
			c.ended(m)
			return
		}
		if k := slices.IndexFunc(c.life.leaving[g.name], func(m *asgInstance) bool { return m.id == id }); k >= 0 {
			m := c.life.leaving[g.name][k]
			c.life.leaving[g.name] = slices.Delete(c.life.leaving[g.name], k, k+1)
			c.dropActions(m)
			c.ended(m)
			return
		}
	}
	for _, cl := range c.clusters {
		for _, in := range cl.instances {
			if in.ec2ID == id {
				c.terminate(in)
				return
			}
		}
	}
}

// DeleteMessage deletes one message by receipt handle, as DeleteMessageBatch does one entry:
// a message already deleted is no error; a receipt handle never issued is
// ReceiptHandleIsInvalid.
func (s sqsClient) DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "DeleteMessage"); err != nil {
		return nil, err
	}
	q, err := c.queueOf(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	rh := deref(in.ReceiptHandle)
	if !q.issued[rh] {
		return nil, apiError("ReceiptHandleIsInvalid", "The input receipt handle \"%s\" is not a valid receipt handle.", rh)
	}
	q.msgs = slices.DeleteFunc(q.msgs, func(m *message) bool { return m.receipt == rh })
	return &sqs.DeleteMessageOutput{}, nil
}
