package awsfake

import "time"

// pullTime is how long the task's image pulls take from now (c.mu held): per container,
// Options.PullTime for an image its instance has not pulled, what is left of a pull under
// way, nothing for a cached image; the pulls run in parallel, so the longest counts. A pull
// started here is in the instance's cache from now on, ready when it ends.
func (t *task) pullTime() time.Duration {
	c := t.c
	now := c.clock.Now()
	var longest time.Duration
	for _, ctr := range t.containers {
		img := deref(ctr.def.Image)
		d, ok := c.opts.PullTime[img]
		if !ok || d <= 0 {
			continue
		}
		if in := t.instance; in != nil {
			ready, cached := in.images[img]
			if !cached {
				ready = now.Add(d)
				if in.images == nil {
					in.images = map[string]time.Time{}
				}
				in.images[img] = ready
			}
			d = max(ready.Sub(now), 0)
		}
		longest = max(longest, d)
	}
	return longest
}

// Cached reports whether the container instance (its ARN or EC2 instance ID) has pulled
// image: a later task of that image starts there without a pull.
func (c *Cloud) Cached(instance, image string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	for _, cl := range c.clusters {
		for _, in := range cl.instances {
			if in.arn == instance || in.ec2ID == instance {
				ready, ok := in.images[image]
				return ok && !now.Before(ready)
			}
		}
	}
	return false
}
