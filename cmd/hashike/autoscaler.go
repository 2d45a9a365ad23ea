package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/spf13/cobra"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/autoscale"
	"github.com/hashike/hashike/ecsscale"
	"github.com/hashike/hashike/server"
)

func (a *app) autoscalerCmd() *cobra.Command {
	var config string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "autoscaler --config FILE [--dry-run]",
		Short: "Scale the Auto Scaling groups of ECS clusters for their jobs (standalone)",
		Example: `  hashike autoscaler --config hashike.yaml --dry-run   # log every decision, change nothing
  hashike autoscaler --config hashike.yaml`,
		Long: `Run the cluster autoscaler of the config file's autoscaler section on its own, for teams
that use only 'hashike run': demand then comes from ECS alone (tasks waiting in PROVISIONING).
With 'hashike server', give the server the config file instead: its leader runs the same
autoscaler and sees hashike's queue too.

It owns the groups the config lists: the ECS backend no longer scales them out per run, and
ECS managed scaling must be off on their capacity providers (two owners fight).

--dry-run (or dryRun: true in the file) observes and logs every decision with its reason,
and changes nothing: no SetDesiredCapacity, UpdateContainerInstancesState,
TerminateInstanceInAutoScalingGroup or SetInstanceProtection. Run it so next to an existing
capacity provider first.

SIGTERM or SIGINT stops it after the decision under way.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.readConfig(config)
			if err != nil {
				return err
			}
			if a.configPath(config) == "" || c.Autoscaler == nil {
				return hashike.Errorf(hashike.EInvalid, "autoscaler: --config FILE (or HASHIKE_CONFIG) with an autoscaler section is required")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return a.runAutoscalers(ctx, c.Autoscaler, dryRun || c.Autoscaler.DryRun)
		},
	}
	cmd.Flags().StringVar(&config, "config", "", "the config file (env HASHIKE_CONFIG)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "log every decision with its reason and act on nothing")
	return cmd
}

// runAutoscalers runs one controller per cluster until ctx ends, logging every decision.
func (a *app) runAutoscalers(ctx context.Context, cfg *AutoscalerConfig, dryRun bool) error {
	log, err := a.logger()
	if err != nil {
		return err
	}
	a.procLog = log
	scalers, err := a.autoscalers(ctx, cfg, autoscalerOpts{dryRun: dryRun, log: log})
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, s := range scalers {
		c := &autoscale.Controller{Cluster: s.Cluster, Policy: s.Policy, Clock: a.clock,
			Observe: func(d autoscale.Decision) { logDecision(log, s.Name, d) }}
		log.Info("autoscaler: starting", "cluster", s.Name, "policy", s.Policy.Name(), "dry_run", dryRun, "events", s.Events != nil)
		if s.Events != nil {
			wg.Go(func() {
				if err := s.Events(ctx); err != nil && ctx.Err() == nil {
					log.Error("autoscaler: events loop stopped", "cluster", s.Name, "err", err)
				}
			})
		}
		wg.Go(func() {
			if err := c.Run(ctx); err != nil && ctx.Err() == nil {
				log.Error("autoscaler: stopped", "cluster", s.Name, "err", err)
			}
		})
	}
	wg.Wait()
	log.Info("autoscaler: stopped")
	return nil
}

// logDecision logs one decision: each action with its reason and result, or why none could
// be decided.
func logDecision(log *slog.Logger, cluster string, d autoscale.Decision) {
	if d.Err != nil {
		log.Warn("autoscaler: no decision", "cluster", cluster, "policy", d.Policy, "err", d.Err)
		return
	}
	for i, act := range d.Actions {
		if d.Errors != nil && d.Errors[i] != nil {
			log.Warn("autoscaler: action failed", "cluster", cluster, "policy", d.Policy, "action", act.String(), "reason", act.Reason, "err", d.Errors[i])
			continue
		}
		log.Info("autoscaler: action", "cluster", cluster, "policy", d.Policy, "action", act.String(), "reason", act.Reason)
	}
}

// scaleAPIs are the AWS clients of the autoscaler: ECS and Auto Scaling always; EC2 (spot
// or on-demand) and SQS (the events queue) when set.
type scaleAPIs struct {
	ECS ecsscale.ECSAPI
	AS  ecsscale.AutoScalingAPI
	EC2 ecsscale.EC2API
	SQS ecsscale.SQSAPI
}

// autoscalerOpts say how the autoscalers run: queue, when set, gives a cluster's demand from
// hashike's queue (the server's); interrupter, when set, stops the runs of an instance being
// taken away (the server's); dryRun wraps each cluster in a DryRun, leaves the instances'
// scale-in protection alone and runs no events loop (it would drain instances and complete
// lifecycle actions).
type autoscalerOpts struct {
	queue       func(cluster string) ecsscale.Queue
	interrupter ecsscale.Interrupter
	dryRun      bool
	log         *slog.Logger
}

// autoscalers builds the live cluster of each configured ECS cluster with its policy and,
// when the cluster has an events queue, its events loop.
func (a *app) autoscalers(ctx context.Context, cfg *AutoscalerConfig, o autoscalerOpts) ([]server.Autoscaler, error) {
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	var out []server.Autoscaler
	for _, cl := range cfg.Clusters {
		apis, err := a.scaleClients(ctx, cl.Region)
		if err != nil {
			return nil, err
		}
		sc := cfg.ScaleConfig(cl)
		sc.Clock = a.clock
		sc.LeaveProtection = o.dryRun
		sc.EC2 = apis.EC2
		sc.Interrupter = o.interrupter
		sc.Log = o.log
		if o.queue != nil {
			sc.Queue = o.queue(cl.Name)
		}
		c, err := ecsscale.New(apis.ECS, apis.AS, sc)
		if err != nil {
			return nil, &hashike.Error{Code: hashike.EInvalid, Message: "autoscaler: cluster " + cl.Name, Err: err}
		}
		policy, err := cfg.NewPolicy()
		if err != nil {
			return nil, hashike.Errorf(hashike.EInvalid, "autoscaler: %v", err)
		}
		s := server.Autoscaler{Name: cl.Name, Cluster: c, Policy: policy}
		if o.dryRun {
			s.Cluster = &DryRun{Cluster: c, Log: o.log, Name: cl.Name}
		}
		if url := cfg.EventsQueue(cl); url != "" && apis.SQS != nil {
			if o.dryRun {
				o.log.Info("autoscaler: dry run: the events queue is not read (its lifecycle actions run out their heartbeat timeout)", "cluster", cl.Name, "queue", url)
			} else {
				ev, err := c.Events(apis.SQS, ecsscale.EventsConfig{QueueURL: url, MaxWait: time.Duration(cfg.MaxJobTimeout), Log: o.log})
				if err != nil {
					return nil, &hashike.Error{Code: hashike.EInvalid, Message: "autoscaler: cluster " + cl.Name, Err: err}
				}
				s.Events = ev.Run
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// scaleClients are the clients of a region ("": the SDK's).
func (a *app) scaleClients(ctx context.Context, region string) (scaleAPIs, error) {
	if a.scaleAPI != nil {
		return a.scaleAPI(), nil
	}
	cfg, err := a.awsConfig(ctx)
	if err != nil {
		return scaleAPIs{}, err
	}
	if region != "" {
		cfg.Region = region
	}
	return scaleAPIs{ECS: awsecs.NewFromConfig(cfg), AS: autoscaling.NewFromConfig(cfg),
		EC2: ec2.NewFromConfig(cfg), SQS: sqs.NewFromConfig(cfg)}, nil
}

// DryRun is an autoscale.Cluster that observes through Cluster and applies nothing: each
// action is logged as what would have been done, with its reason, and recorded. (Give the
// live cluster LeaveProtection too: its Snapshot otherwise sets scale-in protection.)
type DryRun struct {
	Cluster autoscale.Cluster
	Log     *slog.Logger
	Name    string

	mu      sync.Mutex
	actions []autoscale.Action
}

var _ autoscale.Cluster = (*DryRun)(nil)

// Snapshot implements autoscale.Cluster: the live cluster's.
func (d *DryRun) Snapshot(ctx context.Context) (*autoscale.Snapshot, error) {
	return d.Cluster.Snapshot(ctx)
}

// Apply implements autoscale.Cluster: it records the action and does nothing.
func (d *DryRun) Apply(_ context.Context, act autoscale.Action) error {
	d.mu.Lock()
	d.actions = append(d.actions, act)
	d.mu.Unlock()
	d.Log.Info("autoscaler: dry run: would "+act.String(), "cluster", d.Name, "reason", act.Reason)
	return nil
}

// Actions returns the actions recorded so far.
func (d *DryRun) Actions() []autoscale.Action {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]autoscale.Action(nil), d.actions...)
}

// serverInterrupter is the server's ecsscale.Interrupter: it stops the runs of an instance
// being taken away through the run store (see server.Server.Interrupt). The autoscalers are
// built before the server, so srv is set once it exists; the events loops that call it run
// only once the server has started.
type serverInterrupter struct{ srv *server.Server }

var _ ecsscale.Interrupter = (*serverInterrupter)(nil)

func (i *serverInterrupter) Interrupt(ctx context.Context, n ecsscale.Interruption) ([]string, error) {
	if n.Reason == "" {
		return nil, errors.New("interrupt: no reason")
	}
	if i.srv == nil {
		return n.Tasks, nil // not serving yet: the loop stops the tasks itself
	}
	unknown, err := i.srv.Interrupt(ctx, n.Tasks, n.Reason)
	if err != nil {
		return unknown, fmt.Errorf("interrupt the runs on %s: %w", n.Instance, err)
	}
	return unknown, nil
}
