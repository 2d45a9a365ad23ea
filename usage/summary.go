// Package usage measures what runs use while they run: a Monitor samples every supervised
// task of a backend (a hashike.UsageSampler) at the backend's interval, in one call for all of
// them, and folds the samples into each run's hashike.ResourceUsage (Summary, pure). It
// imports only the domain; the samplers are the backends' (Docker stats, Container Insights).
package usage

import (
	"slices"
	"time"

	"github.com/hashike/hashike"
)

// Summary folds one task's samples into its hashike.ResourceUsage. Samples may repeat (a
// source queried again from an older point): a container's sample not after the last one
// seen is dropped. It is not safe for concurrent use.
type Summary struct {
	usage      hashike.ResourceUsage
	containers map[string]*container
	order      []string
}

type container struct {
	lastAt time.Time
	// counter is the largest CPU counter seen (Period 0); period sums the CPU time of
	// period samples.
	counter, period float64
	throttled       *float64
	memory          int64
}

// NewSummary starts a summary of what source measures. A summary already recorded (by a
// supervisor that died) seeds the peak memory; CPU time is counted again from the source,
// whose counters (or events since the run's start) hold all of it.
func NewSummary(source string, recorded *hashike.ResourceUsage) *Summary {
	s := &Summary{usage: hashike.ResourceUsage{Source: source}, containers: map[string]*container{}}
	if recorded != nil && recorded.Source == source {
		s.usage.PeakMemoryBytes = recorded.PeakMemoryBytes
	}
	return s
}

// Add folds in the samples one SampleUsage call returned for the task. The samples of
// containers make one observation (their memory summed: the task's at that moment); each
// sample of the whole task (Container "") is one observation of its own.
func (s *Summary) Add(samples []hashike.UsageSample) {
	var batch int64
	var batched bool
	slices.SortStableFunc(samples, func(a, b hashike.UsageSample) int { return a.At.Compare(b.At) })
	for _, smp := range samples {
		c := s.containers[smp.Container]
		if c == nil {
			c = &container{}
			s.containers[smp.Container] = c
			s.order = append(s.order, smp.Container)
		}
		if !c.lastAt.IsZero() && !smp.At.After(c.lastAt) {
			continue
		}
		c.lastAt = smp.At
		c.memory = smp.MemoryBytes
		if smp.Period > 0 {
			c.period += smp.CPUSeconds
		} else {
			c.counter = max(c.counter, smp.CPUSeconds)
		}
		if smp.ThrottledSeconds != nil {
			t := *smp.ThrottledSeconds
			if c.throttled != nil {
				t = max(t, *c.throttled)
			}
			c.throttled = &t
		}
		if smp.Container == "" {
			s.observe(smp.At, smp.MemoryBytes)
		} else {
			batch += smp.MemoryBytes
			batched = true
			s.stretch(smp.At)
		}
	}
	if batched {
		s.usage.Samples++
		s.usage.PeakMemoryBytes = max(s.usage.PeakMemoryBytes, batch)
	}
}

func (s *Summary) observe(at time.Time, memory int64) {
	s.usage.Samples++
	s.usage.PeakMemoryBytes = max(s.usage.PeakMemoryBytes, memory)
	s.stretch(at)
}

func (s *Summary) stretch(at time.Time) {
	if s.usage.FirstSampleAt == nil || at.Before(*s.usage.FirstSampleAt) {
		s.usage.FirstSampleAt = &at
	}
	if s.usage.LastSampleAt == nil || at.After(*s.usage.LastSampleAt) {
		s.usage.LastSampleAt = &at
	}
}

// Latest is when the newest sample was taken (zero before any).
func (s *Summary) Latest() time.Time {
	var t time.Time
	for _, c := range s.containers {
		if c.lastAt.After(t) {
			t = c.lastAt
		}
	}
	return t
}

// Usage returns the summary so far; nil before any observation.
func (s *Summary) Usage() *hashike.ResourceUsage {
	if s.usage.Samples == 0 {
		return nil
	}
	u := s.usage
	u.CPUSeconds = 0
	var throttled float64
	var anyThrottled bool
	for _, c := range s.containers {
		u.CPUSeconds += c.counter + c.period
		if c.throttled != nil {
			throttled += *c.throttled
			anyThrottled = true
		}
	}
	if anyThrottled {
		u.ThrottledSeconds = &throttled
	}
	return &u
}

// ContainerUsage is one container's (or, Container "", a whole task's) latest figures.
type ContainerUsage struct {
	Container   string
	MemoryBytes int64
	// CPUSeconds is the CPU time used so far (a counter).
	CPUSeconds float64
}

// Containers returns the latest figures per container, in the order first seen.
func (s *Summary) Containers() []ContainerUsage {
	out := make([]ContainerUsage, 0, len(s.order))
	for _, name := range s.order {
		c := s.containers[name]
		out = append(out, ContainerUsage{Container: name, MemoryBytes: c.memory, CPUSeconds: c.counter + c.period})
	}
	return out
}
