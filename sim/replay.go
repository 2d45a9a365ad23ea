package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hashike/hashike/autoscale"
)

// replay is the Cluster a recording plays back: Snapshot returns the next recorded
// snapshot; Apply accepts every action and changes nothing (the next snapshot is what the
// live cluster showed).
type replay struct {
	recs []autoscale.Record
	next int
}

func (r *replay) Snapshot(context.Context) (*autoscale.Snapshot, error) {
	if r.next >= len(r.recs) {
		return nil, fmt.Errorf("recording: %d snapshots, all played", len(r.recs))
	}
	s := r.recs[r.next].Snapshot
	r.next++
	return s, nil
}

func (r *replay) Apply(context.Context, autoscale.Action) error { return nil }

// replayClock gives each decision its recorded time.
type replayClock struct{ r *replay }

func (c replayClock) Now() time.Time {
	return c.r.recs[min(c.r.next, len(c.r.recs)-1)].At
}
func (replayClock) After(time.Duration) <-chan time.Time { return nil }

// Replay plays a recording (autoscale.ReadRecording) through policy p, a fresh one (its
// state is Reset first): the same autoscale.Controller.Step the simulator drives, over
// each recorded snapshot in turn, at its recorded time. It returns p's decisions, one per
// record, to compare with the recording's (Compare).
func Replay(recs []autoscale.Record, p autoscale.Policy) ([]autoscale.Decision, error) {
	p.Reset()
	r := &replay{recs: recs}
	var out []autoscale.Decision
	ctl := autoscale.Controller{Cluster: r, Policy: p, Clock: replayClock{r}, Observe: func(d autoscale.Decision) { out = append(out, d) }}
	for range recs {
		if err := ctl.Step(context.Background()); err != nil {
			return out, fmt.Errorf("replay decision %d: %w", len(out), err)
		}
	}
	return out, nil
}

// Mismatch is a decision of a replay that differs from the recording's.
type Mismatch struct {
	// Index is the record's (0 first); At its time.
	Index int
	At    time.Time
	// Recorded and Replayed are the actions, each with its reason, as JSON.
	Recorded, Replayed string
}

// Compare returns the decisions of a replay whose actions (and their reasons) differ
// from the recording's, in order.
func Compare(recs []autoscale.Record, got []autoscale.Decision) []Mismatch {
	var out []Mismatch
	for i, rec := range recs {
		want := actionsJSON(rec.Actions)
		have := "(no decision)"
		if i < len(got) {
			have = actionsJSON(got[i].Actions)
		}
		if want != have {
			out = append(out, Mismatch{Index: i, At: rec.At, Recorded: want, Replayed: have})
		}
	}
	return out
}

func actionsJSON(acts []autoscale.Action) string {
	if len(acts) == 0 {
		return "[]"
	}
	b, err := json.Marshal(acts)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
