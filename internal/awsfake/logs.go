package awsfake

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

// logStream is a CloudWatch Logs stream written by the awslogs driver.
type logStream struct {
	group, name string
	visibleAt   time.Time // the driver creates the stream some time after the container starts
	events      []event
}

type event struct {
	ts      int64 // ms
	msg     string
	readyAt time.Time // when GetLogEvents can return it
}

// stream returns the stream group/name, created to appear at visibleAt (c.mu held).
func (c *Cloud) stream(group, name string, visibleAt time.Time) *logStream {
	g := c.streams[group]
	if g == nil {
		g = map[string]*logStream{}
		c.streams[group] = g
	}
	s := g[name]
	if s == nil {
		s = &logStream{group: group, name: name, visibleAt: visibleAt}
		g[name] = s
	}
	return s
}

// maxPageBytes is GetLogEvents' response size limit; each event counts its message plus 26
// bytes.
const maxPageBytes = 1 << 20

type logsClient struct{ c *Cloud }

func (l logsClient) GetLogEvents(ctx context.Context, in *cloudwatchlogs.GetLogEventsInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.GetLogEventsOutput, error) {
	c := l.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "GetLogEvents"); err != nil {
		return nil, err
	}
	group := deref(in.LogGroupName)
	if id := deref(in.LogGroupIdentifier); id != "" {
		if group != "" {
			return nil, apiError("InvalidParameterException", "LogGroup name and LogGroup ARN are mutually exclusive parameters.")
		}
		group = id
		if i := strings.Index(id, ":log-group:"); i >= 0 {
			group = strings.TrimSuffix(id[i+len(":log-group:"):], ":*")
		}
	}
	if group == "" {
		return nil, apiError("InvalidParameterException", "Should provide either logGroupName or logGroupIdentifier.")
	}
	if deref(in.LogStreamName) == "" {
		return nil, apiError("InvalidParameterException", "1 validation error detected: Value null at 'logStreamName' failed to satisfy constraint: Member must not be null")
	}
	limit, err := eventsLimit(in.Limit)
	if err != nil {
		return nil, err
	}
	now := c.clock.Now()
	g := c.streams[group]
	visibleGroup := false
	for _, s := range g {
		visibleGroup = visibleGroup || !now.Before(s.visibleAt)
	}
	if !visibleGroup {
		return nil, apiError("ResourceNotFoundException", "The specified log group does not exist.")
	}
	s := g[*in.LogStreamName]
	if s == nil || now.Before(s.visibleAt) {
		return nil, apiError("ResourceNotFoundException", "The specified log stream does not exist.")
	}

	// Delivered events: a prefix, since every event waits the same delay.
	ready := 0
	for ready < len(s.events) && !now.Before(s.events[ready].readyAt) {
		ready++
	}
	inRange := func(e event) bool {
		return (in.StartTime == nil || e.ts >= *in.StartTime) && (in.EndTime == nil || e.ts < *in.EndTime)
	}
	var idx []int // indexes of the page, in order
	forwardFrom, backward := 0, false
	switch tok := deref(in.NextToken); {
	case strings.HasPrefix(tok, "f/"):
		if _, err := fmt.Sscanf(tok, "f/%d/s", &forwardFrom); err != nil || forwardFrom > len(s.events) {
			return nil, apiError("InvalidParameterException", "The specified nextToken is invalid.")
		}
	case strings.HasPrefix(tok, "b/"):
		if _, err := fmt.Sscanf(tok, "b/%d/s", &forwardFrom); err != nil || forwardFrom > len(s.events) {
			return nil, apiError("InvalidParameterException", "The specified nextToken is invalid.")
		}
		backward = true
	case tok != "":
		return nil, apiError("InvalidParameterException", "The specified nextToken is invalid.")
	case in.StartFromHead == nil || !*in.StartFromHead:
		forwardFrom, backward = ready, true
	}
	if backward {
		size := 0
		for i := min(forwardFrom, ready) - 1; i >= 0 && len(idx) < limit; i-- {
			if !inRange(s.events[i]) {
				continue
			}
			if size += len(s.events[i].msg) + 26; size > maxPageBytes {
				break
			}
			idx = append([]int{i}, idx...)
		}
	} else {
		size := 0
		for i := forwardFrom; i < ready && len(idx) < limit; i++ {
			if !inRange(s.events[i]) {
				continue
			}
			if size += len(s.events[i].msg) + 26; size > maxPageBytes {
				break
			}
			idx = append(idx, i)
		}
	}
	out := &cloudwatchlogs.GetLogEventsOutput{Events: []cwtypes.OutputLogEvent{}}
	for _, i := range idx {
		e := s.events[i]
		out.Events = append(out.Events, cwtypes.OutputLogEvent{Message: ptr(e.msg), Timestamp: ptr(e.ts), IngestionTime: ptr(e.readyAt.UnixMilli())})
	}
	first, end := forwardFrom, forwardFrom
	if backward && len(idx) == 0 {
		first, end = min(forwardFrom, ready), min(forwardFrom, ready)
	}
	if len(idx) > 0 {
		first, end = idx[0], idx[len(idx)-1]+1
	}
	if backward && deref(in.NextToken) != "" && len(idx) == 0 {
		end = forwardFrom
	}
	out.NextForwardToken = ptr(fmt.Sprintf("f/%020d/s", end))
	out.NextBackwardToken = ptr(fmt.Sprintf("b/%020d/s", first))
	return out, nil
}

// eventsLimit is a CloudWatch Logs read's Limit: 10,000 events when not given, and 1 to
// 10,000 when given, as GetLogEvents and FilterLogEvents check it.
func eventsLimit(limit *int32) (int, error) {
	if limit == nil {
		return 10000, nil
	}
	if *limit < 1 || *limit > 10000 {
		return 0, apiError("InvalidParameterException", "1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and 10000", *limit)
	}
	return int(*limit), nil
}
