package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/autoscale"
	"github.com/hashike/hashike/sim"
)

// simReplay is `hashike sim --replay FILE`: it plays a recording of a live controller's
// decisions (autoscale.Recorder's JSON Lines) through each named policy (by default the
// recorded one), configured as --cluster says, and reports the decisions that differ. It
// fails when one does.
func simReplay(w io.Writer, file string, cfg sim.Config, names []string) error {
	f, err := os.Open(file)
	if err != nil {
		return hashike.Errorf(hashike.EInvalid, "--replay: %v", err)
	}
	defer f.Close()
	recs, err := autoscale.ReadRecording(f)
	if err != nil {
		return hashike.Errorf(hashike.EInvalid, "--replay %s: %v", file, err)
	}
	if len(recs) == 0 {
		return hashike.Errorf(hashike.EInvalid, "--replay %s: no decisions", file)
	}
	if names == nil {
		names = []string{recs[0].Policy}
	}
	differ := 0
	for _, name := range names {
		p, err := sim.NewPolicy(cfg, name)
		if err != nil {
			return hashike.Errorf(hashike.EInvalid, "--replay: policy %q recorded: %v", name, err)
		}
		got, err := sim.Replay(recs, p)
		if err != nil {
			return fmt.Errorf("replay %s through %s: %w", file, name, err)
		}
		ms := sim.Compare(recs, got)
		fmt.Fprintf(w, "%s: %d decisions replayed from %s (recorded by %s), %d identical, %d differ\n", name, len(recs), file, recs[0].Policy, len(recs)-len(ms), len(ms))
		for _, m := range ms {
			fmt.Fprintf(w, "  #%d at %s\n    recorded: %s\n    replayed: %s\n", m.Index, m.At.Format("2006-01-02T15:04:05.000Z07:00"), m.Recorded, m.Replayed)
		}
		differ += len(ms)
	}
	if differ > 0 {
		return fmt.Errorf("%d replayed decisions differ from the recording", differ)
	}
	return nil
}

// replayCmd reads --cluster and --policies (when given) for simReplay.
func replayCmd(cmd *cobra.Command, w io.Writer, file, cluster, policies string) error {
	var names []string
	if cmd.Flags().Changed("policies") {
		var err error
		if names, err = policyNames(policies); err != nil {
			return err
		}
	}
	cfg, err := readSimCluster(cluster)
	if err != nil {
		return err
	}
	return simReplay(w, file, cfg, names)
}
