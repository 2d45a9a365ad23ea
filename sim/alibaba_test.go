package sim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike/autoscale"
)

// alibabaTrace is shared/data/alibaba2017_batch.csv, next to the repository (as `hashike sim
// --workload ../shared/data/alibaba2017_batch.csv` reads it from the repository's root).
var alibabaTrace = filepath.Join("..", "..", "shared", "data", "alibaba2017_batch.csv")

// readAlibaba reads the whole trace; it fails the test when the file is not next to the
// repository, as CI always has it.
func readAlibaba(t *testing.T) Workload {
	t.Helper()
	f, err := os.Open(alibabaTrace)
	if err != nil {
		t.Fatalf("the trace lives next to the repository: %v", err)
	}
	defer f.Close()
	wl, err := ReadTrace(f, alibabaTrace)
	if err != nil {
		t.Fatal(err)
	}
	return wl
}

// TestAlibaba2017Batch reads the real batch trace (sim's CSV form) and runs its first two
// hours through every registered policy in the default cluster: every job completes once
// or fails with a reason, and no policy costs less than the lower bound.
func TestAlibaba2017Batch(t *testing.T) {
	wl := readAlibaba(t)
	if len(wl.Jobs) != 50_500 {
		t.Fatalf("%d jobs, want the README's 50,500", len(wl.Jobs))
	}
	wl = firstHours(wl, 2)
	cfg := DefaultCluster()
	lb := ComputeLowerBound(cfg, wl)
	for _, name := range autoscale.Names() {
		p, _ := autoscale.ByName(name)
		r, err := Run(ForPolicy(cfg, name), wl, p, 1)
		if err != nil {
			t.Fatal(err)
		}
		checkConservation(t, wl, r)
		if r.Completed == 0 || r.CostUSD < lb.CostUSD {
			t.Errorf("%s: completed %d, cost $%.2f, lower bound $%.2f", name, r.Completed, r.CostUSD, lb.CostUSD)
		}
		t.Logf("%-12s %d jobs, failed %d, wait p95 %.0f s, $%.2f (%.2f x the bound), launches %d",
			name, r.Jobs, r.JobsFailed, r.WaitP95, r.CostUSD, r.CostUSD/lb.CostUSD, r.Launches)
	}
}

// reasons records every action its policy decides.
type reasons struct {
	autoscale.Policy
	acts []autoscale.Action
}

func (r *reasons) Decide(s *autoscale.Snapshot, now time.Time) []autoscale.Action {
	acts := r.Policy.Decide(s, now)
	r.acts = append(r.acts, acts...)
	return acts
}

// TestEveryActionHasAReason: every action of every policy, over the first two hours of the
// real batch trace (bursts, scale-out and scale-in), says why, as the live controller will log
// and export it.
func TestEveryActionHasAReason(t *testing.T) {
	wl := firstHours(readAlibaba(t), 2)
	cfg := DefaultCluster()
	for _, name := range autoscale.Names() {
		p, err := NewPolicy(cfg, name)
		if err != nil {
			t.Fatal(err)
		}
		rec := &reasons{Policy: p}
		if _, err := Run(ForPolicy(cfg, name), wl, rec, 1); err != nil {
			t.Fatal(err)
		}
		if len(rec.acts) == 0 {
			t.Errorf("%s: no action in two hours of bursts", name)
		}
		for _, a := range rec.acts {
			if strings.TrimSpace(a.Reason) == "" {
				t.Errorf("%s: an action without a reason: %+v", name, a)
				break
			}
		}
	}
}
