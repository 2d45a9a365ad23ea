package autoscale

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestRecorderRoundTrip: a recording reads back as the decisions were made (snapshot,
// time, policy, actions with their reasons); a decision without a snapshot (the cluster
// could not be observed) is not recorded; a bad line is named.
func TestRecorderRoundTrip(t *testing.T) {
	s := snap(t0, []Pool{pool(10)}, []Instance{active("i-1", 1, 512, 512, t0.Add(-time.Hour))}, task("a", 1024, 2048, t0.Add(-3*time.Second), false))
	s.Arrivals, s.ArrivalBucket = []int{1, 2, 3}, time.Minute
	s.LaunchErrors = []LaunchError{{At: t0.Add(-time.Minute), Pool: "p", Type: "small", Code: LaunchErrorInsufficientCapacity}}
	acts := []Action{{Launch: &Launch{Pool: "p", Type: "small", Count: 1, For: [][]string{{"a"}}}, Reason: "packing"}}
	var buf bytes.Buffer
	r := NewRecorder(&buf)
	r.Observe(Decision{At: t0, Policy: "hashike", Snapshot: s, Actions: acts})
	r.Observe(Decision{At: t0.Add(10 * time.Second), Policy: "hashike", Err: ErrThrottled})
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	recs, err := ReadRecording(&buf)
	if err != nil {
		t.Fatal(err)
	}
	want := []Record{{At: t0, Policy: "hashike", Snapshot: s, Actions: acts}}
	if !reflect.DeepEqual(recs, want) {
		t.Fatalf("read back %+v\nwant %+v", recs, want)
	}
	_, err = ReadRecording(strings.NewReader("{\"at\":\"2026-11-02T09:00:00Z\",\"snapshot\":{}}\n{\"at\":1}\n"))
	if err == nil || !strings.Contains(err.Error(), "recording line 2") {
		t.Fatalf("a bad second line: %v", err)
	}
}
