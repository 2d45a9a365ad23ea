// Package objectstoretest is the conformance suite for hashike.ObjectStore: every
// implementation (the local filesystem, S3) runs the same tests, so that the log archive,
// payloads and results rely on the same behaviour whichever store is behind them.
//
//	func TestConformance(t *testing.T) {
//		objectstoretest.Run(t, func(t *testing.T) hashike.ObjectStore {
//			s, err := objectfs.Open(t.TempDir())
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		}, objectstoretest.Options{})
//	}
//
// Beyond hashike.ObjectStore's documentation the suite pins down: an empty object is an
// object; Put with a size that the body does not match fails and leaves the previous object;
// keys with spaces, "=", "+", "%" and non-ASCII letters round trip (Hive partitions such as
// "dt=2026-12-06" are keys too).
package objectstoretest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashike/hashike"
)

// Options tune the suite to an implementation.
type Options struct {
	// LargeSize is the size of the large object test, in bytes; 0 means 24 MiB. An adapter
	// that switches to multipart uploads above some size sets it above that size.
	LargeSize int64
	// ManyKeys is the number of objects of the listing test; 0 means 1100 (more than one S3
	// list page).
	ManyKeys int
}

// Run runs the suite. open must return a new, empty store each time it is called.
func Run(t *testing.T, open func(t *testing.T) hashike.ObjectStore, opts Options) {
	if opts.LargeSize == 0 {
		opts.LargeSize = 24 << 20
	}
	if opts.ManyKeys == 0 {
		opts.ManyKeys = 1100
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s hashike.ObjectStore, opts Options)
	}{
		{"PutGetStat", testPutGetStat},
		{"EmptyObject", testEmptyObject},
		{"UnknownSize", testUnknownSize},
		{"NotFound", testNotFound},
		{"Overwrite", testOverwrite},
		{"FailedPutKeepsOld", testFailedPutKeepsOld},
		{"CancelledPutKeepsOld", testCancelledPutKeepsOld},
		{"ShortBodyKeepsOld", testShortBodyKeepsOld},
		{"DeleteIdempotent", testDeleteIdempotent},
		{"ListOrderAndPrefix", testListOrderAndPrefix},
		{"ListMany", testListMany},
		{"ListCallbackError", testListCallbackError},
		{"InvalidKeys", testInvalidKeys},
		{"OddKeys", testOddKeys},
		{"ConcurrentPuts", testConcurrentPuts},
		{"ConcurrentReplace", testConcurrentReplace},
		{"LargeObject", testLargeObject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t), opts)
		})
	}
}

func put(t *testing.T, s hashike.ObjectStore, key, body string, po hashike.PutOptions) {
	t.Helper()
	if err := s.Put(context.Background(), key, strings.NewReader(body), int64(len(body)), po); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func get(t *testing.T, s hashike.ObjectStore, key string) (string, hashike.ObjectInfo) {
	t.Helper()
	rc, info, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q): read: %v", key, err)
	}
	return string(b), info
}

func wantCode(t *testing.T, what string, err error, code hashike.ErrorCode) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %s", what, code)
	}
	if got := hashike.ErrorCodeOf(err); got != code {
		t.Fatalf("%s: error %q has code %s, want %s", what, err, got, code)
	}
}

func list(t *testing.T, s hashike.ObjectStore, prefix string) []hashike.ObjectInfo {
	t.Helper()
	var out []hashike.ObjectInfo
	if err := s.List(context.Background(), prefix, func(oi hashike.ObjectInfo) error {
		out = append(out, oi)
		return nil
	}); err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return out
}

func keys(infos []hashike.ObjectInfo) []string {
	out := make([]string, len(infos))
	for i, oi := range infos {
		out[i] = oi.Key
	}
	return out
}

func testPutGetStat(t *testing.T, s hashike.ObjectStore, _ Options) {
	before := time.Now()
	po := hashike.PutOptions{ContentType: "application/x-ndjson", ContentEncoding: "zstd"}
	put(t, s, "runs/r1/payload.json", "hello, object", po)
	body, info := get(t, s, "runs/r1/payload.json")
	if body != "hello, object" {
		t.Fatalf("Get body = %q", body)
	}
	want := hashike.ObjectInfo{Key: "runs/r1/payload.json", Size: 13, ContentType: po.ContentType, ContentEncoding: po.ContentEncoding}
	checkInfo(t, "Get", info, want, before)
	st, err := s.Stat(context.Background(), "runs/r1/payload.json")
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	checkInfo(t, "Stat", st, want, before)
	ls := list(t, s, "")
	if len(ls) != 1 || ls[0].Key != want.Key || ls[0].Size != want.Size {
		t.Fatalf("List = %+v, want the one object", ls)
	}
	checkModified(t, "List", ls[0].Modified, before)
}

func checkInfo(t *testing.T, op string, got, want hashike.ObjectInfo, before time.Time) {
	t.Helper()
	checkModified(t, op, got.Modified, before)
	got.Modified = time.Time{}
	if got != want {
		t.Fatalf("%s info = %+v, want %+v", op, got, want)
	}
}

func checkModified(t *testing.T, op string, m, before time.Time) {
	t.Helper()
	// S3 keeps seconds; allow for that and for a clock a little apart.
	if m.Before(before.Add(-time.Minute)) || m.After(time.Now().Add(time.Minute)) {
		t.Fatalf("%s Modified = %v, want about %v", op, m, before)
	}
}

func testEmptyObject(t *testing.T, s hashike.ObjectStore, _ Options) {
	put(t, s, "empty", "", hashike.PutOptions{})
	body, info := get(t, s, "empty")
	if body != "" || info.Size != 0 {
		t.Fatalf("empty object: body %q size %d", body, info.Size)
	}
	if ks := keys(list(t, s, "")); !slices.Equal(ks, []string{"empty"}) {
		t.Fatalf("List = %q", ks)
	}
}

func testUnknownSize(t *testing.T, s hashike.ObjectStore, _ Options) {
	body := strings.Repeat("unknown size ", 1000)
	// A reader that is not a *strings.Reader: nothing can learn its length in advance.
	r := io.MultiReader(strings.NewReader(body[:100]), strings.NewReader(body[100:]))
	if err := s.Put(context.Background(), "k", r, -1, hashike.PutOptions{ContentType: "text/plain"}); err != nil {
		t.Fatalf("Put size -1: %v", err)
	}
	got, info := get(t, s, "k")
	if got != body || info.Size != int64(len(body)) || info.ContentType != "text/plain" {
		t.Fatalf("got %d bytes, info %+v; want %d bytes", len(got), info, len(body))
	}
}

func testNotFound(t *testing.T, s hashike.ObjectStore, _ Options) {
	ctx := context.Background()
	_, _, err := s.Get(ctx, "missing/key")
	wantCode(t, "Get missing", err, hashike.ENotFound)
	_, err = s.Stat(ctx, "missing/key")
	wantCode(t, "Stat missing", err, hashike.ENotFound)
	put(t, s, "dir/file", "x", hashike.PutOptions{})
	// A prefix of a key is not an object.
	_, err = s.Stat(ctx, "dir")
	wantCode(t, "Stat of a prefix", err, hashike.ENotFound)
	_, _, err = s.Get(ctx, "dir")
	wantCode(t, "Get of a prefix", err, hashike.ENotFound)
	if ls := list(t, s, "missing/"); len(ls) != 0 {
		t.Fatalf("List of a missing prefix = %+v", ls)
	}
}

func testOverwrite(t *testing.T, s hashike.ObjectStore, _ Options) {
	put(t, s, "k", "first version, longer", hashike.PutOptions{ContentType: "text/plain", ContentEncoding: "gzip"})
	put(t, s, "k", "second", hashike.PutOptions{ContentType: "application/json"})
	body, info := get(t, s, "k")
	if body != "second" || info.Size != 6 || info.ContentType != "application/json" || info.ContentEncoding != "" {
		t.Fatalf("after overwrite: body %q info %+v", body, info)
	}
	if ls := list(t, s, ""); len(ls) != 1 || ls[0].Size != 6 {
		t.Fatalf("List after overwrite = %+v", ls)
	}
}

// failingReader gives n bytes then fails.
type failingReader struct {
	n   int
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, r.err
	}
	k := min(len(p), r.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	r.n -= k
	return k, nil
}

func checkOld(t *testing.T, s hashike.ObjectStore, op string) {
	t.Helper()
	body, info := get(t, s, "k")
	if body != "old" || info.ContentType != "text/old" {
		t.Fatalf("after %s: body %q info %+v, want the old object", op, body, info)
	}
	if ks := keys(list(t, s, "")); !slices.Equal(ks, []string{"k"}) {
		t.Fatalf("after %s: List = %q, want only k", op, ks)
	}
}

func testFailedPutKeepsOld(t *testing.T, s hashike.ObjectStore, _ Options) {
	put(t, s, "k", "old", hashike.PutOptions{ContentType: "text/old"})
	boom := errors.New("disk on fire")
	for _, size := range []int64{-1, 1 << 20} {
		err := s.Put(context.Background(), "k", &failingReader{n: 300 << 10, err: boom}, size, hashike.PutOptions{ContentType: "text/new"})
		if err == nil {
			t.Fatalf("Put of a failing body (size %d) succeeded", size)
		}
		checkOld(t, s, fmt.Sprintf("a failed Put (size %d)", size))
	}
	// A failed first Put leaves no object.
	err := s.Put(context.Background(), "fresh", &failingReader{n: 10, err: boom}, -1, hashike.PutOptions{})
	if err == nil {
		t.Fatal("Put of a failing body succeeded")
	}
	_, err = s.Stat(context.Background(), "fresh")
	wantCode(t, "Stat after a failed first Put", err, hashike.ENotFound)
}

// cancellingReader cancels its context after after bytes and keeps giving data until total.
type cancellingReader struct {
	after, total int
	cancel       func()
	read         int
}

func (r *cancellingReader) Read(p []byte) (int, error) {
	if r.read >= r.total {
		return 0, io.EOF
	}
	k := min(len(p), r.total-r.read, 32<<10)
	for i := range p[:k] {
		p[i] = 'c'
	}
	r.read += k
	if r.read >= r.after {
		r.cancel()
	}
	return k, nil
}

func testCancelledPutKeepsOld(t *testing.T, s hashike.ObjectStore, _ Options) {
	put(t, s, "k", "old", hashike.PutOptions{ContentType: "text/old"})
	for _, size := range []int64{-1, 1 << 20} {
		ctx, cancel := context.WithCancel(context.Background())
		r := &cancellingReader{after: 64 << 10, total: 1 << 20, cancel: cancel}
		err := s.Put(ctx, "k", r, size, hashike.PutOptions{ContentType: "text/new"})
		cancel()
		if err == nil {
			t.Fatalf("Put whose context was cancelled (size %d) succeeded", size)
		}
		checkOld(t, s, fmt.Sprintf("a cancelled Put (size %d)", size))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Put(ctx, "k", strings.NewReader("new"), 3, hashike.PutOptions{}); err == nil {
		t.Fatal("Put with a cancelled context succeeded")
	}
	checkOld(t, s, "a Put with a cancelled context")
}

func testShortBodyKeepsOld(t *testing.T, s hashike.ObjectStore, _ Options) {
	put(t, s, "k", "old", hashike.PutOptions{ContentType: "text/old"})
	err := s.Put(context.Background(), "k", strings.NewReader("only 19 bytes here."), 100, hashike.PutOptions{})
	if err == nil {
		t.Fatal("Put with a body shorter than its size succeeded")
	}
	checkOld(t, s, "a Put with a short body")
	err = s.Put(context.Background(), "k", strings.NewReader("more than 5 bytes"), 5, hashike.PutOptions{})
	if err == nil {
		if body, _ := get(t, s, "k"); body != "more " {
			t.Fatalf("Put with a body longer than its size stored %q, want an error or the first 5 bytes", body)
		}
	} else {
		checkOld(t, s, "a Put with a long body")
	}
}

func testDeleteIdempotent(t *testing.T, s hashike.ObjectStore, _ Options) {
	ctx := context.Background()
	for _, k := range []string{"a/1", "a/2", "a/3", "b"} {
		put(t, s, k, k, hashike.PutOptions{})
	}
	if err := s.Delete(ctx, "a/1", "a/3", "never/was"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := s.Delete(ctx, "a/1"); err != nil {
		t.Fatalf("Delete again: %v", err)
	}
	if err := s.Delete(ctx); err != nil {
		t.Fatalf("Delete of nothing: %v", err)
	}
	_, _, err := s.Get(ctx, "a/1")
	wantCode(t, "Get after Delete", err, hashike.ENotFound)
	if ks := keys(list(t, s, "")); !slices.Equal(ks, []string{"a/2", "b"}) {
		t.Fatalf("List after Delete = %q", ks)
	}
	if err := s.Delete(ctx, "a/2", "b"); err != nil {
		t.Fatal(err)
	}
	if ks := keys(list(t, s, "")); len(ks) != 0 {
		t.Fatalf("List after deleting all = %q", ks)
	}
	// The store is usable again under the prefixes just emptied.
	put(t, s, "a/2/x", "again", hashike.PutOptions{})
	if body, _ := get(t, s, "a/2/x"); body != "again" {
		t.Fatalf("body = %q", body)
	}
}

func testListOrderAndPrefix(t *testing.T, s hashike.ObjectStore, _ Options) {
	// Byte order puts "a-b" ('-' 0x2d) before "a/b" ('/' 0x2f) before "a0" and "ab": a walk of
	// directories in name order would not.
	all := []string{"a-b", "a/b/c", "a/b/d/e", "a/b0", "a/c", "a0", "ab", "b", "b.txt", "B", "dt=2026-12-06/x", "ü"}
	for i, k := range rand.Perm(len(all)) {
		put(t, s, all[k], strings.Repeat("x", i), hashike.PutOptions{})
	}
	sorted := slices.Clone(all)
	slices.Sort(sorted)
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", sorted},
		{"a", []string{"a-b", "a/b/c", "a/b/d/e", "a/b0", "a/c", "a0", "ab"}},
		{"a/", []string{"a/b/c", "a/b/d/e", "a/b0", "a/c"}},
		{"a/b", []string{"a/b/c", "a/b/d/e", "a/b0"}},
		{"a/b/", []string{"a/b/c", "a/b/d/e"}},
		{"a/b/d/e", []string{"a/b/d/e"}},
		{"b", []string{"b", "b.txt"}},
		{"dt=", []string{"dt=2026-12-06/x"}},
		{"c", nil},
		{"a/b/c/", nil},
	} {
		got := list(t, s, tc.prefix)
		if ks := keys(got); !slices.Equal(ks, tc.want) {
			t.Errorf("List(%q) = %q, want %q", tc.prefix, ks, tc.want)
		}
		for _, oi := range got {
			_, info := get(t, s, oi.Key)
			if oi.Size != info.Size {
				t.Errorf("List(%q): %s has size %d, Get says %d", tc.prefix, oi.Key, oi.Size, info.Size)
			}
		}
	}
}

func testListMany(t *testing.T, s hashike.ObjectStore, opts Options) {
	want := make([]string, opts.ManyKeys)
	for i := range want {
		want[i] = fmt.Sprintf("many/%03d/%d", i%97, i)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(want))
	sem := make(chan struct{}, 8)
	for _, k := range want {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := s.Put(context.Background(), k, strings.NewReader(k), int64(len(k)), hashike.PutOptions{}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	put(t, s, "other", "x", hashike.PutOptions{})
	slices.Sort(want)
	if got := keys(list(t, s, "many/")); !slices.Equal(got, want) {
		t.Fatalf("List(many/) gave %d keys, want %d in order", len(got), len(want))
	}
}

func testListCallbackError(t *testing.T, s hashike.ObjectStore, _ Options) {
	for _, k := range []string{"x/1", "x/2", "x/3"} {
		put(t, s, k, k, hashike.PutOptions{})
	}
	stop := errors.New("enough")
	var seen []string
	err := s.List(context.Background(), "x/", func(oi hashike.ObjectInfo) error {
		seen = append(seen, oi.Key)
		if len(seen) == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("List returned %v, want the callback's error", err)
	}
	if !slices.Equal(seen, []string{"x/1", "x/2"}) {
		t.Fatalf("List went on after the callback's error: %q", seen)
	}
}

func testInvalidKeys(t *testing.T, s hashike.ObjectStore, _ Options) {
	ctx := context.Background()
	bad := []string{"", "/abs", "trailing/", "a//b", "./a", "a/./b", "a/..", "../escape", "a/../b",
		"nul\x00", "new\nline", "del\x7f", "\xff\xfe", strings.Repeat("k", hashike.MaxObjectKeyLen+1)}
	for _, k := range bad {
		err := s.Put(ctx, k, strings.NewReader("x"), 1, hashike.PutOptions{})
		wantCode(t, fmt.Sprintf("Put(%q)", k), err, hashike.EInvalid)
		_, _, err = s.Get(ctx, k)
		wantCode(t, fmt.Sprintf("Get(%q)", k), err, hashike.EInvalid)
		_, err = s.Stat(ctx, k)
		wantCode(t, fmt.Sprintf("Stat(%q)", k), err, hashike.EInvalid)
		err = s.Delete(ctx, "fine", k)
		wantCode(t, fmt.Sprintf("Delete(%q)", k), err, hashike.EInvalid)
	}
	for _, p := range []string{"/abs", "a//", "../x", "a/../", "nul\x00"} {
		err := s.List(ctx, p, func(hashike.ObjectInfo) error { return nil })
		wantCode(t, fmt.Sprintf("List(%q)", p), err, hashike.EInvalid)
	}
	if ls := list(t, s, ""); len(ls) != 0 {
		t.Fatalf("invalid keys left objects: %+v", ls)
	}
	// A long key works (S3 stores count their prefix in the 1024 bytes; filesystems limit a
	// name to 255 bytes, so the key has short segments).
	long := strings.Repeat("seg/", 240) + "ends"
	put(t, s, long, "long", hashike.PutOptions{})
	if body, _ := get(t, s, long); body != "long" {
		t.Fatalf("long key body = %q", body)
	}
}

func testOddKeys(t *testing.T, s hashike.ObjectStore, _ Options) {
	odd := []string{"with space/a b.json", "plus+sign", "percent%20", "eq=ual/dt=2026-12-06/x.jsonl.zst",
		"ünïcödé/日本", "..dots/...", ".hidden/.x", "semi;colon,comma", "tilde~/(paren)", "question?mark", "hash#tag", "amp&and"}
	for _, k := range odd {
		put(t, s, k, "body of "+k, hashike.PutOptions{})
	}
	for _, k := range odd {
		if body, info := get(t, s, k); body != "body of "+k || info.Key != k {
			t.Errorf("Get(%q) = %q, info key %q", k, body, info.Key)
		}
	}
	want := slices.Clone(odd)
	slices.Sort(want)
	if got := keys(list(t, s, "")); !slices.Equal(got, want) {
		t.Fatalf("List = %q, want %q", got, want)
	}
	if err := s.Delete(context.Background(), odd...); err != nil {
		t.Fatal(err)
	}
	if ls := list(t, s, ""); len(ls) != 0 {
		t.Fatalf("after Delete: %+v", ls)
	}
}

func testConcurrentPuts(t *testing.T, s hashike.ObjectStore, _ Options) {
	// Writers of distinct keys under one new prefix, and deleters emptying a sibling prefix,
	// at once: directory creation and removal must not make a Put fail.
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for w := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 25 {
				k := fmt.Sprintf("c/%d/%d/obj", i, w)
				if err := s.Put(context.Background(), k, strings.NewReader(k), int64(len(k)), hashike.PutOptions{}); err != nil {
					errs <- err
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := range 25 {
				k := fmt.Sprintf("c/%d/gone-%d", i, w)
				if err := s.Put(context.Background(), k, strings.NewReader("x"), 1, hashike.PutOptions{}); err != nil {
					errs <- err
				}
				if err := s.Delete(context.Background(), k); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := keys(list(t, s, "c/"))
	if len(got) != 100 {
		t.Fatalf("List(c/) = %d keys, want 100", len(got))
	}
	for _, k := range got {
		if body, _ := get(t, s, k); body != k {
			t.Fatalf("%s = %q", k, body)
		}
	}
}

func testConcurrentReplace(t *testing.T, s hashike.ObjectStore, _ Options) {
	// Readers only ever see one whole version while writers replace the object.
	const size = 256 << 10
	versions := make([][]byte, 4)
	for i := range versions {
		versions[i] = bytes.Repeat([]byte{byte('A' + i)}, size)
	}
	ctx := context.Background()
	if err := s.Put(ctx, "hot", bytes.NewReader(versions[0]), size, hashike.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				v := versions[(w+i)%len(versions)]
				if err := s.Put(ctx, "hot", bytes.NewReader(v), size, hashike.PutOptions{}); err != nil {
					errs <- err
				}
			}
		}()
	}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				rc, _, err := s.Get(ctx, "hot")
				if err != nil {
					errs <- err
					continue
				}
				b, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					errs <- err
					continue
				}
				if len(b) != size || !bytes.Equal(b, bytes.Repeat(b[:1], size)) {
					errs <- fmt.Errorf("read a mixed or partial object: %d bytes", len(b))
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// patternReader gives n pseudo-random bytes, reproducibly, without holding them.
type patternReader struct {
	n   int64
	rng *rand.ChaCha8
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	_, _ = r.rng.Read(p)
	r.n -= int64(len(p))
	return len(p), nil
}

func testLargeObject(t *testing.T, s hashike.ObjectStore, opts Options) {
	for _, size := range []int64{opts.LargeSize, -1} {
		seed := [32]byte{byte(size & 0xff)}
		h := sha256.New()
		if _, err := io.Copy(h, &patternReader{n: opts.LargeSize, rng: rand.NewChaCha8(seed)}); err != nil {
			t.Fatal(err)
		}
		want := h.Sum(nil)
		err := s.Put(context.Background(), "large", &patternReader{n: opts.LargeSize, rng: rand.NewChaCha8(seed)}, size, hashike.PutOptions{ContentType: "application/octet-stream"})
		if err != nil {
			t.Fatalf("Put of %d bytes (size %d): %v", opts.LargeSize, size, err)
		}
		rc, info, err := s.Get(context.Background(), "large")
		if err != nil {
			t.Fatal(err)
		}
		h.Reset()
		n, err := io.Copy(h, rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if n != opts.LargeSize || info.Size != opts.LargeSize || !bytes.Equal(h.Sum(nil), want) {
			t.Fatalf("large object (size %d): read %d bytes, info size %d, digest match %v", size, n, info.Size, bytes.Equal(h.Sum(nil), want))
		}
		if info.ContentType != "application/octet-stream" {
			t.Fatalf("large object content type %q", info.ContentType)
		}
	}
}
