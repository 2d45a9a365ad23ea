package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/hashike/hashike"
)

// The record of a run's objects: put, get, replace, and the errors.
func testRunObjects(t *testing.T, s hashike.ServerStore, _ func() hashike.ServerStore) {
	ctx := context.Background()
	at := time.Date(2026, 12, 6, 5, 0, 0, 123456789, time.UTC)
	_, err := s.GetRunObject(ctx, "r1", hashike.RunObjectResult)
	if hashike.ErrorCodeOf(err) != hashike.ENotFound {
		t.Fatalf("GetRunObject of nothing: %v, want not found", err)
	}
	payload := hashike.RunObject{RunID: "r1", Name: hashike.RunObjectPayload, Key: "runs/r1/payload.json", Size: 1 << 20,
		ContentType: "application/json", CreatedAt: at}
	result := hashike.RunObject{RunID: "r1", Name: hashike.RunObjectResult, Key: "runs/r1/result", Size: 5, CreatedAt: at}
	for _, o := range []hashike.RunObject{payload, result} {
		if err := s.PutRunObject(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []hashike.RunObject{payload, result} {
		got, err := s.GetRunObject(ctx, want.RunID, want.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !got.CreatedAt.Equal(want.CreatedAt) {
			t.Fatalf("CreatedAt = %v, want %v", got.CreatedAt, want.CreatedAt)
		}
		got.CreatedAt = want.CreatedAt
		if got != want {
			t.Fatalf("GetRunObject = %+v, want %+v", got, want)
		}
	}
	// A second put replaces: a result too large is recorded as an error instead.
	tooBig := hashike.RunObject{RunID: "r1", Name: hashike.RunObjectResult, Size: 9 << 20,
		Error: "result of 9437184 bytes is over the limit of 8388608", CreatedAt: at.Add(time.Second)}
	if err := s.PutRunObject(ctx, tooBig); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRunObject(ctx, "r1", hashike.RunObjectResult)
	if err != nil {
		t.Fatal(err)
	}
	got.CreatedAt = tooBig.CreatedAt
	if got != tooBig {
		t.Fatalf("after replace: %+v, want %+v", got, tooBig)
	}
	// Other runs and names are apart.
	if _, err := s.GetRunObject(ctx, "r2", hashike.RunObjectResult); hashike.ErrorCodeOf(err) != hashike.ENotFound {
		t.Fatalf("another run's object: %v", err)
	}
	if got, err := s.GetRunObject(ctx, "r1", hashike.RunObjectPayload); err != nil || got.Key != payload.Key {
		t.Fatalf("payload after the result was replaced: %+v, %v", got, err)
	}
	for _, bad := range []hashike.RunObject{
		{Name: hashike.RunObjectResult, Key: "k", CreatedAt: at},
		{RunID: "r1", Key: "k", CreatedAt: at},
		{RunID: "r1", Name: hashike.RunObjectResult, CreatedAt: at},
		{RunID: "r1", Name: hashike.RunObjectResult, Key: "k", Size: -1, CreatedAt: at},
	} {
		if err := s.PutRunObject(ctx, bad); hashike.ErrorCodeOf(err) != hashike.EInvalid {
			t.Errorf("PutRunObject(%+v) = %v, want invalid", bad, err)
		}
	}
}
