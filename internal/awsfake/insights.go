package awsfake

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

// Container Insights: on a cluster where it is on (SetContainerInsights), every task that
// ran during a minute gets one performance log event of Type "Task" for that minute in the
// log group /aws/ecs/containerinsights/CLUSTER/performance, as ECS writes them: CpuUtilized
// in CPU units averaged over the minute, MemoryUtilized in MiB (the most the containers held),
// and their reservations. The events are written when the minute is over plus
// Options.InsightsDelay, and read with FilterLogEvents (its JSON filter patterns of
// equality tests joined by && and ||, which is what hashike sends).

// usagePoint is a container's state from at on: the memory it holds and the vCPUs it keeps
// busy; cpu is the CPU seconds used before at.
type usagePoint struct {
	at     time.Time
	memMiB int
	cpu    float64
	rate   float64
}

// use records the container's memory and CPU rate from now on; rate < 0 keeps the current
// rate (c.mu held).
func (ctr *container) use(now time.Time, memMiB int, rate float64) {
	var cpu, cur float64
	if n := len(ctr.usage); n > 0 {
		p := ctr.usage[n-1]
		cpu, cur = p.cpu+p.rate*now.Sub(p.at).Seconds(), p.rate
	}
	if rate < 0 {
		rate = cur
	}
	ctr.usage = append(ctr.usage, usagePoint{at: now, memMiB: memMiB, cpu: cpu, rate: rate})
}

// cpuAt is the CPU seconds the container used before t.
func (ctr *container) cpuAt(t time.Time) float64 {
	var cpu float64
	for _, p := range ctr.usage {
		if p.at.After(t) {
			break
		}
		cpu = p.cpu + p.rate*t.Sub(p.at).Seconds()
	}
	return cpu
}

// peakMiB is the most memory the container held in [from, to).
func (ctr *container) peakMiB(from, to time.Time) int {
	peak := 0
	for _, p := range ctr.usage {
		if !p.at.Before(to) {
			break
		}
		if p.at.Before(from) {
			peak = p.memMiB // the state at from, until a later point
			continue
		}
		peak = max(peak, p.memMiB)
	}
	return peak
}

// SetContainerInsights turns Container Insights on or off for the cluster (made if new). On,
// its performance log group exists from now on.
func (c *Cloud) SetContainerInsights(cluster string, on bool) {
	c.AddCluster(cluster)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clusters[cluster].insights = on
	if on && c.streams[insightsGroup(cluster)] == nil {
		c.streams[insightsGroup(cluster)] = map[string]*logStream{}
	}
}

func insightsGroup(cluster string) string {
	return "/aws/ecs/containerinsights/" + cluster + "/performance"
}

// writeInsights writes the performance events of the minutes that are over (c.mu held).
func (c *Cloud) writeInsights(now time.Time) {
	for _, t := range c.order {
		cl := t.cluster
		if cl == nil || !cl.insights || t.startedAt == nil {
			continue
		}
		if t.insightsNext.IsZero() {
			t.insightsNext = t.startedAt.Truncate(time.Minute)
		}
		for w := t.insightsNext; ; w = w.Add(time.Minute) {
			end := w.Add(time.Minute)
			if now.Before(end.Add(c.opts.InsightsDelay)) || (t.stoppedAt != nil && !w.Before(*t.stoppedAt)) {
				t.insightsNext = w
				break
			}
			var cpu float64
			mem := 0
			for _, ctr := range t.containers {
				cpu += ctr.cpuAt(end) - ctr.cpuAt(w)
				mem += ctr.peakMiB(w, end)
			}
			stream := "FargateTelemetry-" + t.id[:4]
			if t.placedOn != "" {
				stream = "AgentTelemetry-" + t.placedOn[strings.LastIndexByte(t.placedOn, '/')+1:]
			}
			family, revision := deref(t.def.Family), strconv.Itoa(int(t.def.Revision))
			msg, _ := json.Marshal(map[string]any{
				"Version": "0", "Type": "Task", "TaskId": t.id, "TaskDefinitionFamily": family,
				"TaskDefinitionRevision": revision, "ClusterName": cl.name, "Timestamp": w.UnixMilli(),
				"CpuUtilized": cpu / time.Minute.Seconds() * 1024, "CpuReserved": float64(t.cpu),
				"MemoryUtilized": mem, "MemoryReserved": t.mem, "KnownStatus": t.lastStatus,
				"LaunchType": string(t.launchType),
			})
			s := c.stream(insightsGroup(cl.name), stream, now)
			s.events = append(s.events, event{ts: w.UnixMilli(), msg: string(msg), readyAt: now})
		}
	}
}

// FilterLogEvents reads the events of a log group's streams, interleaved in time order,
// that match the filter pattern.
func (l logsClient) FilterLogEvents(ctx context.Context, in *cloudwatchlogs.FilterLogEventsInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.FilterLogEventsOutput, error) {
	c := l.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "FilterLogEvents"); err != nil {
		return nil, err
	}
	group := deref(in.LogGroupName)
	if group == "" {
		return nil, apiError("InvalidParameterException", "Should provide either logGroupName or logGroupIdentifier.")
	}
	pattern := deref(in.FilterPattern)
	if len(pattern) > 1024 {
		return nil, apiError("InvalidParameterException", "1 validation error detected: Value at 'filterPattern' failed to satisfy constraint: Member must have length less than or equal to 1024")
	}
	match, err := parseFilterPattern(pattern)
	if err != nil {
		return nil, apiError("InvalidParameterException", "Invalid filter pattern: %v", err)
	}
	limit, err := eventsLimit(in.Limit)
	if err != nil {
		return nil, err
	}
	now := c.clock.Now()
	c.writeInsights(now)
	g, ok := c.streams[group]
	if !ok {
		return nil, apiError("ResourceNotFoundException", "The specified log group does not exist.")
	}
	type hit struct {
		stream string
		i      int
		e      event
	}
	var hits []hit
	for name, s := range g {
		if now.Before(s.visibleAt) {
			continue
		}
		for i, e := range s.events {
			if now.Before(e.readyAt) || (in.StartTime != nil && e.ts < *in.StartTime) || (in.EndTime != nil && e.ts > *in.EndTime) {
				continue
			}
			if match(e.msg) {
				hits = append(hits, hit{name, i, e})
			}
		}
	}
	slices.SortFunc(hits, func(a, b hit) int {
		if a.e.ts != b.e.ts {
			return cmp.Compare(a.e.ts, b.e.ts)
		}
		if a.stream != b.stream {
			return strings.Compare(a.stream, b.stream)
		}
		return a.i - b.i
	})
	from := 0
	if tok := deref(in.NextToken); tok != "" {
		if _, err := fmt.Sscanf(tok, "p/%d", &from); err != nil || from > len(hits) {
			return nil, apiError("InvalidParameterException", "The specified nextToken is invalid.")
		}
	}
	out := &cloudwatchlogs.FilterLogEventsOutput{Events: []cwtypes.FilteredLogEvent{}}
	size, i := 0, from
	for ; i < len(hits) && len(out.Events) < limit; i++ {
		h := hits[i]
		if size += len(h.e.msg) + 26; size > maxPageBytes && len(out.Events) > 0 {
			break
		}
		out.Events = append(out.Events, cwtypes.FilteredLogEvent{
			EventId: ptr(fmt.Sprintf("%s/%d", h.stream, h.i)), LogStreamName: ptr(h.stream),
			Message: ptr(h.e.msg), Timestamp: ptr(h.e.ts), IngestionTime: ptr(h.e.readyAt.UnixMilli()),
		})
	}
	if i < len(hits) {
		out.NextToken = ptr(fmt.Sprintf("p/%d", i))
	}
	return out, nil
}

// parseFilterPattern reads a CloudWatch Logs filter pattern: "" (every event) or a JSON
// pattern of equality tests ($.Field = "text" or a number, !=) joined by && and || with
// parentheses. Anything else is refused, so a test never passes on a pattern not understood.
func parseFilterPattern(p string) (func(msg string) bool, error) {
	if strings.TrimSpace(p) == "" {
		return func(string) bool { return true }, nil
	}
	toks, err := tokenize(p)
	if err != nil {
		return nil, err
	}
	if len(toks) < 2 || toks[0] != "{" || toks[len(toks)-1] != "}" {
		return nil, fmt.Errorf("only JSON patterns { ... } are modeled")
	}
	ps := &patternParser{toks: toks[1 : len(toks)-1]}
	cond, err := ps.or()
	if err != nil {
		return nil, err
	}
	if ps.i != len(ps.toks) {
		return nil, fmt.Errorf("unexpected %q", ps.toks[ps.i])
	}
	return func(msg string) bool {
		var doc map[string]any
		if json.Unmarshal([]byte(msg), &doc) != nil {
			return false
		}
		return cond(doc)
	}, nil
}

func tokenize(p string) ([]string, error) {
	var toks []string
	for i := 0; i < len(p); {
		r := rune(p[i])
		switch {
		case unicode.IsSpace(r):
			i++
		case strings.ContainsRune("{}()", r):
			toks = append(toks, string(r))
			i++
		case strings.HasPrefix(p[i:], "&&"), strings.HasPrefix(p[i:], "||"), strings.HasPrefix(p[i:], "!="):
			toks = append(toks, p[i:i+2])
			i += 2
		case r == '=':
			toks = append(toks, "=")
			i++
		case r == '"':
			j := strings.IndexByte(p[i+1:], '"')
			if j < 0 {
				return nil, fmt.Errorf("unterminated string")
			}
			toks = append(toks, p[i:i+j+2])
			i += j + 2
		default:
			j := i
			for j < len(p) && (p[j] == '$' || p[j] == '.' || p[j] == '_' || p[j] == '-' || unicode.IsLetter(rune(p[j])) || unicode.IsDigit(rune(p[j]))) {
				j++
			}
			if j == i {
				return nil, fmt.Errorf("unexpected %q", p[i:])
			}
			toks = append(toks, p[i:j])
			i = j
		}
	}
	return toks, nil
}

type patternParser struct {
	toks []string
	i    int
}

func (p *patternParser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *patternParser) or() (func(map[string]any) bool, error) {
	left, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.peek() == "||" {
		p.i++
		right, err := p.and()
		if err != nil {
			return nil, err
		}
		l := left
		left = func(d map[string]any) bool { return l(d) || right(d) }
	}
	return left, nil
}

func (p *patternParser) and() (func(map[string]any) bool, error) {
	left, err := p.term()
	if err != nil {
		return nil, err
	}
	for p.peek() == "&&" {
		p.i++
		right, err := p.term()
		if err != nil {
			return nil, err
		}
		l := left
		left = func(d map[string]any) bool { return l(d) && right(d) }
	}
	return left, nil
}

func (p *patternParser) term() (func(map[string]any) bool, error) {
	if p.peek() == "(" {
		p.i++
		inner, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, fmt.Errorf("missing )")
		}
		p.i++
		return inner, nil
	}
	if p.i+3 > len(p.toks) {
		return nil, fmt.Errorf("incomplete condition")
	}
	sel, op, val := p.toks[p.i], p.toks[p.i+1], p.toks[p.i+2]
	p.i += 3
	if !strings.HasPrefix(sel, "$.") || strings.Contains(sel[2:], ".") || (op != "=" && op != "!=") {
		return nil, fmt.Errorf("only $.Field = value and != are modeled, not %s %s %s", sel, op, val)
	}
	field := sel[2:]
	var want any = val
	if strings.HasPrefix(val, `"`) {
		want = strings.Trim(val, `"`)
	} else if f, err := strconv.ParseFloat(val, 64); err == nil {
		want = f
	} else {
		return nil, fmt.Errorf("value %s is neither a string nor a number", val)
	}
	return func(d map[string]any) bool {
		return (d[field] == want) == (op == "=")
	}, nil
}
