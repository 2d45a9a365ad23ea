package objectfs_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/objectfs"
	"github.com/hashike/hashike/objectstoretest"
)

func TestConformance(t *testing.T) {
	objectstoretest.Run(t, func(t *testing.T) hashike.ObjectStore {
		s, err := objectfs.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, objectstoretest.Options{})
}

func TestKeyAndPrefixConflict(t *testing.T) {
	s, err := objectfs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Put(ctx, "a/b", strings.NewReader("x"), 1, hashike.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	err = s.Put(ctx, "a", strings.NewReader("y"), 1, hashike.PutOptions{})
	if hashike.ErrorCodeOf(err) != hashike.EConflict {
		t.Fatalf("Put of a key that is a prefix: %v, want conflict", err)
	}
	err = s.Put(ctx, "a/b/c", strings.NewReader("y"), 1, hashike.PutOptions{})
	if hashike.ErrorCodeOf(err) != hashike.EConflict {
		t.Fatalf("Put under an object: %v, want conflict", err)
	}
	// Deleting the prefix "a" (not an object) leaves a/b.
	if err := s.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, "a/b"); err != nil {
		t.Fatal(err)
	}
}

// An object's file is its header line and its body, so a crash can never separate them, and a
// person can read it with tail.
func TestFileLayout(t *testing.T) {
	dir := t.TempDir()
	s, err := objectfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), "runs/r1/result", strings.NewReader("{\"ok\":true}"), -1, hashike.PutOptions{ContentType: "application/json"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "objects", "runs", "r1", "result"))
	if err != nil {
		t.Fatal(err)
	}
	want := "hashike-object/1 {\"contentType\":\"application/json\"}\n{\"ok\":true}"
	if string(b) != want {
		t.Fatalf("file = %q, want %q", b, want)
	}
	if s.Dir() != filepath.Join(dir, "objects") {
		t.Fatalf("Dir = %s", s.Dir())
	}
}

// Temp files a crash left behind are removed at the next Open; recent ones (another process's
// Put in progress) stay.
func TestStaleTempsRemoved(t *testing.T) {
	dir := t.TempDir()
	if _, err := objectfs.Open(dir); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, "tmp", "put-old")
	recent := filepath.Join(dir, "tmp", "put-recent")
	for _, p := range []string{old, recent} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	if _, err := objectfs.Open(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Fatalf("stale temp file still there: %v", err)
	}
	if _, err := os.Stat(recent); err != nil {
		t.Fatalf("recent temp file removed: %v", err)
	}
}

func TestFailedPutLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	s, err := objectfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Put(context.Background(), "k", strings.NewReader("short"), 100, hashike.PutOptions{})
	entries, err := os.ReadDir(filepath.Join(dir, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("temp files left: %v", entries)
	}
}
