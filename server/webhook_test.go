package server

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/dispatch"
	"github.com/hashike/hashike/internal/fakebackend"
	"github.com/hashike/hashike/job"
	"github.com/hashike/hashike/notify"
	"github.com/hashike/hashike/sqlite"
)

// TestWebhookSignedEndToEnd: a job's final failure reaches a real HTTP endpoint as a webhook
// the receiver verifies with the shared secret; an endpoint that fails at first (503) gets the
// delivery again; dispatching goes on meanwhile.
func TestWebhookSignedEndToEnd(t *testing.T) {
	const secret = "s3cret-signing-key"
	var mu sync.Mutex
	var got []Event
	calls := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		if err := notify.Verify(secret, r.Header, body, time.Now(), time.Minute); err != nil {
			t.Errorf("the receiver cannot verify the delivery: %v", err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var ev Event
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("body %s: %v", body, err)
		}
		got = append(got, ev)
	}))
	defer hook.Close()

	st, err := sqlite.Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	backend := fakebackend.New("local", func(req hashike.StartRequest) fakebackend.Behavior { return fakebackend.Behavior{ExitCode: 4} })
	sender := notify.NewSender(nil, func(name string) (string, error) {
		if name != "HOOK_KEY" {
			return "", errors.New("no such secret")
		}
		return secret, nil
	}, hashike.SystemClock{})
	s, err := New(Config{
		Store: st, Clock: hashike.SystemClock{}, Random: rand.Reader, Self: self,
		Backend:         func(string) (hashike.Backend, error) { return backend, nil },
		Alive:           func(o hashike.Owner) bool { return o == self },
		ParseDefinition: func(string, []byte) (*job.Definition, error) { return nil, errors.New("unused") },
		Deliver:         sender.Send, Permanent: notify.Permanent, RetryAfter: notify.RetryAfter,
		PollInterval: 10 * time.Millisecond, NoLeader: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s.Start(ctx)
	defer s.Shutdown(ctx)
	def := definition(func(d *job.Definition) {
		d.RetryStrategy = dispatch.RetryStrategy{Attempts: 2}
		d.Notifications = []job.Notification{{Type: job.KindWebhook, URL: hook.URL + "/hashike", Secret: "HOOK_KEY", Events: []string{job.EventFailure}}}
	})
	if _, _, err := s.Register(ctx, "failing", def, "test"); err != nil {
		t.Fatal(err)
	}
	run, _, err := s.Enqueue(ctx, "failing", api.EnqueueRequest{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no verified delivery after %d calls", calls)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ev := got[0]
	if ev.Event != job.EventFailure || ev.Job != "failing" || ev.RootID != run.ID || ev.Attempt != 2 || ev.State != hashike.StateFailed {
		t.Errorf("event = %+v", ev)
	}
	// The receiver has answered; the server records the attempt just after.
	for {
		ds, err := st.ListDeliveries(ctx, ev.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 1 && ds[0].DeliveredAt != nil {
			if ds[0].Attempts != 2 || ds[0].Failed {
				t.Errorf("delivery record = %+v", ds[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the delivery is not recorded as delivered: %+v", ds)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
