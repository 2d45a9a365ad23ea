package storetest

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike"
)

// The Snapshots role of a ServerStore: named documents replaced whole, read back byte for
// byte with their time, seen by another connection.

func testSnapshots(t *testing.T, s hashike.ServerStore, reopen func() hashike.ServerStore) {
	ctx := context.Background()
	if _, err := s.GetSnapshot(ctx, "runners"); hashike.ErrorCodeOf(err) != hashike.ENotFound {
		t.Fatalf("GetSnapshot of none: %v, want ENotFound", err)
	}
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 123456789, time.UTC)
	body := []byte("{\"pools\":[],\"x\":\"\\u00e9\x00\xff\"}")
	if err := s.PutSnapshot(ctx, hashike.Snapshot{Name: "runners", Body: body, TakenAt: t0}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetSnapshot(ctx, "runners")
	if err != nil || !bytes.Equal(got.Body, body) || !got.TakenAt.Equal(t0) || got.Name != "runners" {
		t.Fatalf("GetSnapshot = %+v, %v; want the body and time put", got, err)
	}
	// A second put replaces the first; another name is another document.
	t1 := t0.Add(time.Second)
	if err := s.PutSnapshot(ctx, hashike.Snapshot{Name: "runners", Body: []byte("{}"), TakenAt: t1}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSnapshot(ctx, hashike.Snapshot{Name: "other", Body: []byte("x"), TakenAt: t0}); err != nil {
		t.Fatal(err)
	}
	other := s
	if reopen != nil {
		other = reopen()
	}
	got, err = other.GetSnapshot(ctx, "runners")
	if err != nil || string(got.Body) != "{}" || !got.TakenAt.Equal(t1) {
		t.Fatalf("after a second put: %+v, %v", got, err)
	}
	if err := s.PutSnapshot(ctx, hashike.Snapshot{Name: "", Body: []byte("x"), TakenAt: t0}); hashike.ErrorCodeOf(err) != hashike.EInvalid {
		t.Errorf("a snapshot without a name: %v, want EInvalid", err)
	}
	big := []byte(strings.Repeat("x", hashike.MaxSnapshotBytes+1))
	if err := s.PutSnapshot(ctx, hashike.Snapshot{Name: "big", Body: big, TakenAt: t0}); hashike.ErrorCodeOf(err) != hashike.EInvalid {
		t.Errorf("a snapshot over MaxSnapshotBytes: %v, want EInvalid", err)
	}
}
