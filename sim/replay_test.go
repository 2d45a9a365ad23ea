package sim

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hashike/hashike/autoscale"
)

// liveRecording is the first 60 decisions (a minute, woken by a burst of runs) of hashike's
// policy driving the live adapter over the stateful AWS fake (ecsscale's
// TestLiveDecisionsReplayInTheSimulator writes it).
var liveRecording = filepath.Join("testdata", "live-recording.jsonl")

// TestReplayLiveRecording: the recorded live decisions replay identically through hashike's
// policy as the simulator drives it; another policy's decisions differ, and Compare says
// which. A change to hashike's decisions fails it on purpose: record again with
// HASHIKE_WRITE_RECORDING=$PWD/sim/testdata/live-recording.jsonl go test -run
// TestLiveDecisionsReplayInTheSimulator ./ecsscale/ (from the repository's root).
func TestReplayLiveRecording(t *testing.T) {
	f, err := os.Open(liveRecording)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := autoscale.ReadRecording(f)
	if err != nil {
		t.Fatal(err)
	}
	acted := 0
	for _, r := range recs {
		if len(r.Actions) > 0 {
			acted++
		}
	}
	if len(recs) != 60 || acted < 5 {
		t.Fatalf("%d records, %d with actions: not the recording expected", len(recs), acted)
	}
	got, err := Replay(recs, autoscale.NewHashike(autoscale.HashikeConfig{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range Compare(recs, got) {
		t.Errorf("decision %d at %s: recorded %s, replayed %s", m.Index, m.At, m.Recorded, m.Replayed)
	}
	reactive, err := autoscale.ByName("reactive")
	if err != nil {
		t.Fatal(err)
	}
	got, err = Replay(recs, reactive)
	if err != nil {
		t.Fatal(err)
	}
	if ms := Compare(recs, got); len(ms) == 0 || ms[0].Recorded == ms[0].Replayed {
		t.Fatalf("reactive replayed the recording identically: %+v", ms)
	}
}
