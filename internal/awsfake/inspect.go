package awsfake

import "github.com/aws/aws-sdk-go-v2/service/ecs/types"

// Tasks returns every task the cloud still knows (forgotten ones excluded), tags included,
// in creation order.
func (c *Cloud) Tasks() []types.Task {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.housekeep()
	out := make([]types.Task, 0, len(c.order))
	for _, t := range c.order {
		out = append(out, t.describe(true))
	}
	return out
}

// Task returns the task with the given ARN, tags included.
func (c *Cloud) Task(arn string) (types.Task, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.housekeep()
	t := c.tasks[arn]
	if t == nil {
		return types.Task{}, false
	}
	return t.describe(true), true
}

// Output returns every line a task's container wrote so far (stdout and stderr merged, a
// partial line once it ended), whether or not it goes to CloudWatch Logs.
func (c *Cloud) Output(taskArn, container string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tasks[taskArn]
	if t == nil {
		return nil
	}
	if ctr := t.container(container); ctr != nil {
		return append([]string(nil), ctr.lines...)
	}
	return nil
}

// Housekeep applies what the clock did (registrations, placements, PROVISIONING timeouts,
// forgetting) without an API call; every API call does it first.
func (c *Cloud) Housekeep() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.housekeep()
}
