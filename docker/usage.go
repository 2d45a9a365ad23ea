package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/hashike/hashike"
)

var _ hashike.UsageSampler = (*Backend)(nil)

// UsageSource implements hashike.UsageSampler.
func (b *Backend) UsageSource() string { return hashike.UsageSourceDocker }

// UsageInterval implements hashike.UsageSampler: the engine's stats are live, a sample costs
// a few milliseconds per container.
func (b *Backend) UsageInterval() time.Duration { return 2 * time.Second }

// statsParallel bounds the stats requests in flight at once.
const statsParallel = 4

// maxStatsBody bounds the decoding of one stats answer (a few KiB in practice).
const maxStatsBody = 1 << 20

// SampleUsage implements hashike.UsageSampler with one list of the running containers of
// every queried run and one one-shot stats request per container (statsParallel at a time).
// A container that stopped meanwhile is left out; Since is not needed: every sample is new.
func (b *Backend) SampleUsage(ctx context.Context, queries []hashike.UsageQuery) ([]hashike.TaskUsage, error) {
	if len(queries) == 0 {
		return nil, nil
	}
	wanted := make(map[string]bool, len(queries))
	for _, q := range queries {
		wanted[q.Task.ID] = true
	}
	filters := make(client.Filters).Add("label", LabelRunID).Add("status", "running")
	if len(queries) == 1 {
		filters = make(client.Filters).Add("label", LabelRunID+"="+queries[0].Task.ID).Add("status", "running")
	}
	res, err := b.api.ContainerList(ctx, client.ContainerListOptions{Filters: filters})
	if err != nil {
		if client.IsErrConnectionFailed(err) {
			return nil, b.unavailable(err)
		}
		return nil, fmt.Errorf("list running containers: %w", err)
	}
	type found struct {
		run    string
		sample hashike.UsageSample
		ok     bool
		err    error
	}
	var todo []container.Summary
	for _, c := range res.Items {
		if wanted[c.Labels[LabelRunID]] {
			todo = append(todo, c)
		}
	}
	results := make([]found, len(todo))
	sem := make(chan struct{}, statsParallel)
	var wg sync.WaitGroup
	for i, c := range todo {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s, ok, err := b.stats(ctx, c.ID)
			s.Container = c.Labels[LabelContainer]
			results[i] = found{run: c.Labels[LabelRunID], sample: s, ok: ok, err: err}
		}()
	}
	wg.Wait()
	byRun := map[string]int{}
	var out []hashike.TaskUsage
	for _, r := range results {
		if r.err != nil {
			return nil, r.err
		}
		if !r.ok {
			continue
		}
		i, seen := byRun[r.run]
		if !seen {
			i = len(out)
			byRun[r.run] = i
			out = append(out, hashike.TaskUsage{TaskID: r.run})
		}
		out[i].Samples = append(out[i].Samples, r.sample)
	}
	return out, nil
}

// stats takes one sample of a container; ok is false when it is gone or not running.
func (b *Backend) stats(ctx context.Context, id string) (hashike.UsageSample, bool, error) {
	res, err := b.api.ContainerStats(ctx, id, client.ContainerStatsOptions{})
	if err != nil {
		switch {
		case client.IsErrConnectionFailed(err):
			return hashike.UsageSample{}, false, b.unavailable(err)
		case cerrdefs.IsNotFound(err), cerrdefs.IsConflict(err):
			return hashike.UsageSample{}, false, nil
		}
		return hashike.UsageSample{}, false, fmt.Errorf("stats of container %s: %w", id, err)
	}
	defer res.Body.Close()
	var st container.StatsResponse
	if err := json.NewDecoder(io.LimitReader(res.Body, maxStatsBody)).Decode(&st); err != nil {
		return hashike.UsageSample{}, false, fmt.Errorf("stats of container %s: %w", id, err)
	}
	s, ok := sampleOf(st)
	return s, ok, nil
}

// sampleOf reads a stats answer as Docker's CLI does: memory is the usage less the inactive
// file cache (cgroup v1: total_inactive_file; v2: inactive_file); CPU and throttled time are
// the cgroup's counters. A stopped container answers with a zero read time: no sample.
func sampleOf(st container.StatsResponse) (hashike.UsageSample, bool) {
	if st.Read.IsZero() || st.Read.Year() < 2000 {
		return hashike.UsageSample{}, false
	}
	mem := st.MemoryStats.Usage
	if v, v1 := st.MemoryStats.Stats["total_inactive_file"]; v1 && v < mem {
		mem -= v
	} else if v := st.MemoryStats.Stats["inactive_file"]; !v1 && v < mem {
		mem -= v
	}
	throttled := float64(st.CPUStats.ThrottlingData.ThrottledTime) / 1e9
	return hashike.UsageSample{
		At:               st.Read,
		MemoryBytes:      int64(min(mem, 1<<62)),
		CPUSeconds:       float64(st.CPUStats.CPUUsage.TotalUsage) / 1e9,
		ThrottledSeconds: &throttled,
	}, true
}
