package sim

import (
	"cmp"
	"slices"
	"time"
)

// Image warm-up (Config.WarmImages): a new instance, once registered, pulls the images most
// submitted recently, as the live adapter (package ecsscale) does with one warm-up task per
// image, and the policy sees it launching until they are pulled (or until a task is placed
// on it: it is in service then, and hiding it made the hashike policy launch too few
// instances, docs/sim.md); from then on, jobs of a
// warmed image start without a pull there. The pulls run in parallel, each at PullMiBps, as
// concurrent pulls of different images always do in this simulator (the optimistic end:
// no bandwidth is shared), or with WarmSequential one after the other, a job's own pull
// waiting for them (the pessimistic end: the instance's bandwidth wholly taken by the
// warm-up), so N images of 500 MiB at 100 MiB/s take 5 s or 5N s. Meanwhile tasks are
// placed on it, as ECS does (the adapter's default), unless WarmExclusive keeps them off it
// until it is warm (the instance-attribute placement constraint).

// submitted counts an arrival in the recent images' window.
func (s *sim) submitted(job Job) {
	if s.cfg.WarmImages <= 0 {
		return
	}
	if s.recent == nil {
		s.recent = map[string]int{}
	}
	s.recent[job.Image]++
}

// warmImages returns the WarmImages images submitted most in the last WarmWindow, most
// first (ties by name).
func (s *sim) warmImages() []string {
	for ; s.recentFrom < s.next && s.wl.Jobs[s.recentFrom].Submit < s.now-s.cfg.WarmWindow; s.recentFrom++ {
		img := s.wl.Jobs[s.recentFrom].Image
		if s.recent[img]--; s.recent[img] == 0 {
			delete(s.recent, img)
		}
	}
	imgs := make([]string, 0, len(s.recent))
	for img := range s.recent {
		imgs = append(imgs, img)
	}
	slices.SortFunc(imgs, func(a, b string) int {
		if c := cmp.Compare(s.recent[b], s.recent[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return imgs[:min(len(imgs), s.cfg.WarmImages)]
}

// pullTime is how long an image takes to pull at PullMiBps.
func (s *sim) pullTime(img string) time.Duration {
	mib := s.cfg.DefaultImageMiB
	if v, ok := s.cfg.ImageMiB[img]; ok {
		mib = v
	}
	return time.Duration(float64(mib) / s.cfg.PullMiBps * float64(time.Second))
}

// warm starts a registered instance's warm-up: its pulls go into its cache, and it is
// registered (active) once the last one is done, or at once when there is nothing to warm.
func (s *sim) warm(in *instance) {
	imgs := []string(nil)
	if s.cfg.WarmImages > 0 {
		imgs = s.warmImages()
	}
	if len(imgs) == 0 {
		s.register(in)
		return
	}
	at := s.now
	for _, img := range imgs {
		ready := s.now + s.pullTime(img)
		if s.cfg.WarmSequential {
			ready = at + s.pullTime(img)
		}
		in.cache[img] = ready
		at = max(at, ready)
	}
	in.warmEnd = at
	s.m.WarmUps++
	s.m.WarmUpPulls += len(imgs)
	if s.cfg.WarmExclusive {
		s.h.push(event{at: at, kind: evWarmed, inst: in})
		return
	}
	s.register(in)
}
