package server

import (
	"crypto/rand"
	"strings"
	"testing"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/job"
)

// TestMaxPayloadBytesFitsTheEnvironment: a server-wide payload limit over what one
// environment string can carry is refused at start, naming the limit; the default is it.
func TestMaxPayloadBytesFitsTheEnvironment(t *testing.T) {
	cfg := Config{Store: nil, Backend: func(string) (hashike.Backend, error) { return nil, nil }, Clock: hashike.SystemClock{},
		Random: rand.Reader, Self: hashike.Owner{Host: "h", PID: 1}, Alive: func(hashike.Owner) bool { return true },
		ParseDefinition: func(string, []byte) (*job.Definition, error) { return nil, nil }}
	env := newEnv(t, opts{noLoop: true})
	cfg.Store = env.store
	cfg.MaxPayloadBytes = 256 << 10
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "MaxPayloadBytes 262144 is above 131055") {
		t.Errorf("New with 256 KiB: %v", err)
	}
	cfg.MaxPayloadBytes = 0
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.MaxPayloadBytes() != job.PayloadLimit {
		t.Errorf("default limit %d, want %d", s.MaxPayloadBytes(), job.PayloadLimit)
	}
}
