package ecs

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/hashike/hashike"
)

// Per-task CPU and memory on ECS come from CloudWatch Container Insights: with Container
// Insights enabled on a cluster (its containerInsights setting: enabled or enhanced), ECS
// writes a performance log event per task a minute into the log group
// /aws/ecs/containerinsights/CLUSTER/performance, Type "Task", with the task's ID, its
// CpuUtilized (CPU units, 1024 a vCPU, averaged over the minute) and MemoryUtilized (MiB).
// ECS publishes no per-task metric of RunTask tasks otherwise. The sampler reads those events
// with FilterLogEvents, one call (and at most insightsMaxPages pages) per cluster and per
// insightsBatch tasks per interval, never one per task. A cluster without the log group
// (Container Insights off) is not asked again for insightsRecheck.

// InsightsAPI lists the CloudWatch Logs operation of the usage sampler (the SDK's
// cloudwatchlogs client satisfies it, as it does LogsAPI).
type InsightsAPI interface {
	FilterLogEvents(ctx context.Context, in *cloudwatchlogs.FilterLogEventsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.FilterLogEventsOutput, error)
}

var _ InsightsAPI = (*cloudwatchlogs.Client)(nil)

const (
	// insightsBatch tasks per FilterLogEvents: 18 task IDs of 32 characters keep the filter
	// pattern under its limit of 1,024 characters.
	insightsBatch = 18
	// insightsMaxPages bounds the pages one batch reads per interval; what is left is read at
	// the next interval (Since moves only as far as what was read).
	insightsMaxPages = 5
	// insightsRecheck is how long a cluster without Container Insights is not asked again.
	insightsRecheck = 10 * time.Minute
	// insightsPeriod is the span of one performance event.
	insightsPeriod = time.Minute
	// maxPatternLen is FilterLogEvents' limit on filterPattern.
	maxPatternLen = 1024
)

// InsightsLogGroup is the log group of a cluster's Container Insights performance events.
func InsightsLogGroup(cluster string) string {
	return "/aws/ecs/containerinsights/" + clusterName(cluster) + "/performance"
}

var _ hashike.UsageSampler = (*Backend)(nil)

// UsageSource implements hashike.UsageSampler.
func (b *Backend) UsageSource() string { return hashike.UsageSourceContainerInsights }

// UsageInterval implements hashike.UsageSampler: Container Insights aggregates by the minute.
func (b *Backend) UsageInterval() time.Duration { return insightsPeriod }

// SampleUsage implements hashike.UsageSampler from Container Insights' performance events
// (see above). Without Config.Insights, or on a cluster without Container Insights, it finds
// nothing. Errors: EUnavailable when CloudWatch Logs throttles or cannot be reached.
func (b *Backend) SampleUsage(ctx context.Context, queries []hashike.UsageQuery) ([]hashike.TaskUsage, error) {
	if b.insights == nil || len(queries) == 0 {
		return nil, nil
	}
	byCluster := map[string][]hashike.UsageQuery{}
	var clusters []string
	for _, q := range queries {
		cl := clusterName(clusterOf(q.Task))
		if _, ok := byCluster[cl]; !ok {
			clusters = append(clusters, cl)
		}
		byCluster[cl] = append(byCluster[cl], q)
	}
	var out []hashike.TaskUsage
	for _, cl := range clusters {
		if !b.insightsOn(cl) {
			continue
		}
		for batch := range slices.Chunk(byCluster[cl], insightsBatch) {
			found, err := b.sampleBatch(ctx, cl, batch)
			if err != nil {
				return out, err
			}
			out = append(out, found...)
		}
	}
	return out, nil
}

// insightsOn reports whether cl may have Container Insights (not known to lack it lately).
func (b *Backend) insightsOn(cl string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	until, off := b.insightsOff[cl]
	return !off || !b.clock.Now().Before(until)
}

// insightsEvent is the part of a performance log event the sampler reads.
type insightsEvent struct {
	Type           string   `json:"Type"`
	TaskID         string   `json:"TaskId"`
	Timestamp      int64    `json:"Timestamp"` // ms
	CPUUtilized    *float64 `json:"CpuUtilized"`
	MemoryUtilized *float64 `json:"MemoryUtilized"`
}

// insightsPattern selects the Task events of ids.
func insightsPattern(ids []string) string {
	var b strings.Builder
	b.WriteString(`{ $.Type = "Task" && (`)
	for i, id := range ids {
		if i > 0 {
			b.WriteString(" || ")
		}
		fmt.Fprintf(&b, `$.TaskId = "%s"`, id)
	}
	b.WriteString(") }")
	return b.String()
}

func (b *Backend) sampleBatch(ctx context.Context, cl string, batch []hashike.UsageQuery) ([]hashike.TaskUsage, error) {
	since := map[string]time.Time{}
	ids := make([]string, 0, len(batch))
	var start time.Time
	for _, q := range batch {
		id := taskID(q.Task.ID)
		if _, dup := since[id]; dup {
			continue
		}
		since[id] = q.Since
		ids = append(ids, id)
		if start.IsZero() || q.Since.Before(start) {
			start = q.Since
		}
	}
	pattern := insightsPattern(ids)
	if len(pattern) > maxPatternLen {
		return nil, fmt.Errorf("container insights: a filter pattern of %d characters for %d tasks", len(pattern), len(ids))
	}
	group := InsightsLogGroup(cl)
	in := &cloudwatchlogs.FilterLogEventsInput{
		LogGroupName: aws.String(group), FilterPattern: aws.String(pattern),
		// An event stamped at the minute a task started covers that minute.
		StartTime: aws.Int64(start.Truncate(insightsPeriod).UnixMilli()),
	}
	samples := map[string][]hashike.UsageSample{}
	for range insightsMaxPages {
		res, err := b.insights.FilterLogEvents(ctx, in)
		if err != nil {
			if apiCode(err) == "ResourceNotFoundException" {
				b.mu.Lock()
				b.insightsOff[cl] = b.clock.Now().Add(insightsRecheck)
				b.mu.Unlock()
				return nil, nil
			}
			return nil, classify("container insights: filter log events of "+group, err)
		}
		for _, e := range res.Events {
			var ev insightsEvent
			if err := json.Unmarshal([]byte(aws.ToString(e.Message)), &ev); err != nil || ev.Type != "Task" {
				continue // not a task's performance event
			}
			s, ok := since[ev.TaskID]
			if !ok || ev.MemoryUtilized == nil || ev.CPUUtilized == nil {
				continue
			}
			ms := ev.Timestamp
			if ms == 0 {
				ms = aws.ToInt64(e.Timestamp)
			}
			at := time.UnixMilli(ms).UTC()
			if at.Before(s.Truncate(insightsPeriod)) {
				continue // before the task's start, or read before (the minute of Since is read again: the summary drops repeats)
			}
			samples[ev.TaskID] = append(samples[ev.TaskID], hashike.UsageSample{
				At: at, MemoryBytes: int64(max(*ev.MemoryUtilized, 0) * hashike.MiB),
				CPUSeconds: max(*ev.CPUUtilized, 0) / 1024 * insightsPeriod.Seconds(), Period: insightsPeriod,
			})
		}
		if res.NextToken == nil || aws.ToString(res.NextToken) == aws.ToString(in.NextToken) {
			break
		}
		in.NextToken = res.NextToken
	}
	var out []hashike.TaskUsage
	for _, q := range batch {
		id := taskID(q.Task.ID)
		if s := samples[id]; len(s) > 0 {
			out = append(out, hashike.TaskUsage{TaskID: q.Task.ID, Samples: s})
			delete(samples, id)
		}
	}
	return out, nil
}
