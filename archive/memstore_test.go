package archive_test

import (
	"bytes"
	"context"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashike/hashike"
)

// memObjects is an in-memory hashike.ObjectStore. failAt > 0 makes the failAt-th Put fail (a
// crash between two writes).
type memObjects struct {
	mu     sync.Mutex
	m      map[string][]byte
	puts   int
	failAt int
}

func newMemObjects() *memObjects { return &memObjects{m: map[string][]byte{}} }

var errCrash = hashike.Errorf(hashike.EUnavailable, "crashed")

func (s *memObjects) Put(_ context.Context, key string, body io.Reader, _ int64, _ hashike.PutOptions) error {
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.puts++
	if s.failAt > 0 && s.puts == s.failAt {
		return errCrash
	}
	s.m[key] = b
	return nil
}

func (s *memObjects) Get(_ context.Context, key string) (io.ReadCloser, hashike.ObjectInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.m[key]
	if !ok {
		return nil, hashike.ObjectInfo{}, hashike.Errorf(hashike.ENotFound, "no object %s", key)
	}
	return io.NopCloser(bytes.NewReader(b)), hashike.ObjectInfo{Key: key, Size: int64(len(b))}, nil
}

func (s *memObjects) Stat(_ context.Context, key string) (hashike.ObjectInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.m[key]
	if !ok {
		return hashike.ObjectInfo{}, hashike.Errorf(hashike.ENotFound, "no object %s", key)
	}
	return hashike.ObjectInfo{Key: key, Size: int64(len(b)), Modified: time.Time{}}, nil
}

func (s *memObjects) List(_ context.Context, prefix string, fn func(hashike.ObjectInfo) error) error {
	s.mu.Lock()
	var keys []string
	for k := range s.m {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	s.mu.Unlock()
	sort.Strings(keys)
	for _, k := range keys {
		s.mu.Lock()
		n := len(s.m[k])
		s.mu.Unlock()
		if err := fn(hashike.ObjectInfo{Key: k, Size: int64(n)}); err != nil {
			return err
		}
	}
	return nil
}

func (s *memObjects) Delete(_ context.Context, keys ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		delete(s.m, k)
	}
	return nil
}

func (s *memObjects) keys(prefix string) []string {
	var out []string
	_ = s.List(context.Background(), prefix, func(o hashike.ObjectInfo) error { out = append(out, o.Key); return nil })
	return out
}
