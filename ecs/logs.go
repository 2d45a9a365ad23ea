package ecs

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/hashike/hashike"
)

// logSource is where one container's awslogs output lives.
type logSource struct{ container, group, stream string }

// logSources lists the containers whose output can be followed: those with the awslogs
// driver, a group and a stream prefix (the stream is then prefix/container/task-id, as the
// ECS agent names it). Other containers' output is not read; Check warns about them.
func logSources(td *types.TaskDefinition, taskArn string) []logSource {
	var out []logSource
	for _, c := range td.ContainerDefinitions {
		lc := c.LogConfiguration
		if lc == nil || lc.LogDriver != types.LogDriverAwslogs {
			continue
		}
		group, prefix := lc.Options["awslogs-group"], lc.Options["awslogs-stream-prefix"]
		if group == "" || prefix == "" {
			continue
		}
		name := aws.ToString(c.Name)
		out = append(out, logSource{container: name, group: group, stream: prefix + "/" + name + "/" + taskID(taskArn)})
	}
	return out
}

// Logs implements hashike.Backend for containers logging with awslogs. Ready is called at
// once: CloudWatch Logs keeps everything from the stream's start. Each event is one entry on
// Stdout (awslogs merges stdout and stderr) with the newline the driver removed; opts.After is
// honoured by byte offset from the stream's head. With Follow, a stream that does not exist
// yet is waited for, and once the task has stopped the stream is read until two consecutive
// pages, LogPoll apart, bring nothing: awslogs delivers the last lines late.
func (b *Backend) Logs(ctx context.Context, ref hashike.TaskRef, opts hashike.LogsOptions, sink func(hashike.LogEntry) error) error {
	if opts.Ready != nil {
		opts.Ready()
	}
	var (
		task types.Task
		k    watchKey
	)
	if opts.Follow {
		var unsubscribe func()
		k, unsubscribe = b.poller.subscribe(clusterOf(ref), ref.ID)
		defer unsubscribe()
		for {
			o := b.poller.observe(k)
			if o.seen {
				if o.err != nil {
					return o.err
				}
				task = o.task
				break
			}
			select {
			case <-o.changed:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	} else {
		tasks, _, err := b.describeTasks(ctx, clusterOf(ref), []string{ref.ID})
		if err != nil {
			return err
		}
		if len(tasks) == 0 {
			return notFound(ref)
		}
		task = tasks[0]
	}
	td, err := b.taskDefinition(ctx, aws.ToString(task.TaskDefinitionArn))
	if err != nil {
		return err
	}
	sources := logSources(td, ref.ID)
	if len(sources) == 0 {
		return nil
	}
	if b.logs == nil {
		return fmt.Errorf("logs of task %s: the backend has no CloudWatch Logs client", ref.ID)
	}
	after := opts.After
	if after == nil {
		after = hashike.LogCursor{}
	}
	emit := hashike.SerialSink(sink)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(sources))
	for _, src := range sources {
		f := &follower{b: b, src: src, after: after, emit: emit, follow: opts.Follow, key: k}
		go func() { errs <- f.run(ctx) }()
	}
	var first error
	for range sources {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	return first
}

// follower reads one container's stream.
type follower struct {
	b      *Backend
	src    logSource
	after  hashike.LogCursor
	emit   func(hashike.LogEntry) error
	follow bool
	key    watchKey
}

// state says whether the task has stopped and whether the container ran (has an exit code).
func (f *follower) state() (stopped, ran bool) {
	if !f.follow {
		return true, true
	}
	o := f.b.poller.observe(f.key)
	if !o.final() {
		return false, false
	}
	if o.err != nil {
		return true, true
	}
	return true, o.status.Container(f.src.container).ExitCode != nil
}

// drainGrace, in LogPolls, is how long after a task is seen STOPPED its stream is still read
// before two empty pages count as the end (5 s at the default LogPoll).
const drainGrace = 5

func (f *follower) run(ctx context.Context) error {
	b := f.b
	var (
		token        *string
		offset       int64
		emptyStopped int // consecutive empty pages requested after the task stopped
		missing      int // attempts that found no stream after the task stopped
		emptyMoving  int // consecutive empty pages with a new token
		backoff      = b.logPoll
		stoppedSince time.Time
	)
	for {
		stopped, ran := f.state()
		if stopped && stoppedSince.IsZero() {
			stoppedSince = b.clock.Now()
		}
		out, err := b.logs.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{
			LogGroupName: aws.String(f.src.group), LogStreamName: aws.String(f.src.stream),
			StartFromHead: aws.Bool(true), NextToken: token,
		})
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return ctx.Err()
			case apiCode(err) == "ResourceNotFoundException":
				// The stream appears seconds after the container starts, or never when it
				// never ran.
				if !f.follow {
					return nil
				}
				if stopped {
					missing++
					if !ran && missing >= 2 || missing >= 30 {
						return nil
					}
				}
				if err := b.sleep(ctx, b.logPoll); err != nil {
					return err
				}
				continue
			case retryable(err):
				backoff = min(backoff*2, b.pollMax)
				if err := b.sleep(ctx, b.jitter(backoff)); err != nil {
					return err
				}
				continue
			default:
				return classify(fmt.Sprintf("get log events %s %s", f.src.group, f.src.stream), err)
			}
		}
		backoff = b.logPoll
		for _, ev := range out.Events {
			data := []byte(aws.ToString(ev.Message) + "\n")
			at := offset
			offset += int64(len(data))
			unseen := f.after.Unseen(f.src.container, hashike.Stdout, at, data)
			if unseen == nil {
				continue
			}
			if err := f.emit(hashike.LogEntry{Container: f.src.container, Stream: hashike.Stdout, Time: time.UnixMilli(aws.ToInt64(ev.Timestamp)), Data: unseen}); err != nil {
				return err
			}
		}
		moved := out.NextForwardToken != nil && aws.ToString(out.NextForwardToken) != aws.ToString(token)
		if out.NextForwardToken != nil {
			token = out.NextForwardToken
		}
		if len(out.Events) > 0 {
			emptyStopped, emptyMoving = 0, 0
			continue
		}
		// An empty page with a new token need not be the end (CloudWatch pages by time).
		switch {
		case !f.follow:
			if moved && emptyMoving < 3 {
				emptyMoving++
				continue
			}
			return nil
		case stopped:
			// Drained: two empty pages in a row, and a while after STOPPED was seen, since
			// CloudWatch can show the last events seconds after the task stopped.
			if emptyStopped++; emptyStopped >= 2 && b.clock.Now().Sub(stoppedSince) >= drainGrace*b.logPoll {
				return nil
			}
		case moved && emptyMoving < 3:
			emptyMoving++
			continue
		}
		emptyMoving = 0
		if err := b.sleep(ctx, b.logPoll); err != nil {
			return err
		}
	}
}
