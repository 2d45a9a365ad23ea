package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/notify"
)

// fixedClock is a clock stopped at now.
type fixedClock struct{ now time.Time }

func (c fixedClock) Now() time.Time                     { return c.now }
func (fixedClock) After(time.Duration) <-chan time.Time { return make(chan time.Time) }

var now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func secrets(m map[string]string) func(string) (string, error) {
	return func(name string) (string, error) {
		v, ok := m[name]
		if !ok {
			return "", hashike.Errorf(hashike.ENotFound, "no secret %s", name)
		}
		return v, nil
	}
}

// received is one request as an endpoint saw it.
type received struct {
	method string
	header http.Header
	body   []byte
}

// endpoint is an httptest server answering with handler after recording the request.
func endpoint(t *testing.T, handler http.HandlerFunc) (*httptest.Server, func() []received) {
	t.Helper()
	var (
		mu  sync.Mutex
		got []received
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, received{r.Method, r.Header.Clone(), body})
		mu.Unlock()
		if handler != nil {
			handler(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, func() []received {
		mu.Lock()
		defer mu.Unlock()
		return append([]received(nil), got...)
	}
}

func webhook(url, secret string) hashike.Delivery {
	return hashike.Delivery{
		ID: "run1-failure-0", RunID: "run1", Event: "failure", Kind: notify.KindWebhook,
		URL: url, Secret: secret, Body: []byte(`{"event":"failure","run":{"id":"run1"}}`),
	}
}

func TestSendSignedWebhook(t *testing.T) {
	srv, got := endpoint(t, nil)
	s := notify.NewSender(srv.Client(), secrets(map[string]string{"hooks": "s3cret"}), fixedClock{now})
	d := webhook(srv.URL+"/hook", "hooks")
	if err := s.Send(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	reqs := got()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPost || string(r.body) != string(d.Body) {
		t.Errorf("%s %q", r.method, r.body)
	}
	for h, want := range map[string]string{
		"Content-Type":         "application/json",
		"User-Agent":           notify.UserAgent,
		notify.HeaderDelivery:  d.ID,
		notify.HeaderEvent:     "failure",
		notify.HeaderTimestamp: strconv.FormatInt(now.Unix(), 10),
	} {
		if v := r.header.Get(h); v != want {
			t.Errorf("%s = %q, want %q", h, v, want)
		}
	}
	// The scheme, computed here independently: hex HMAC-SHA256(secret, t + "." + body).
	m := hmac.New(sha256.New, []byte("s3cret"))
	fmt.Fprintf(m, "%d.%s", now.Unix(), d.Body)
	if sig := r.header.Get(notify.HeaderSignature); sig != "v1="+hex.EncodeToString(m.Sum(nil)) {
		t.Errorf("signature %q", sig)
	}

	// A receiver verifies it; a tampered body, another secret or a late replay fail.
	if err := notify.Verify("s3cret", r.header, r.body, now.Add(time.Minute), 0); err != nil {
		t.Errorf("Verify: %v", err)
	}
	tampered := []byte(strings.Replace(string(r.body), "failure", "success", 1))
	if err := notify.Verify("s3cret", r.header, tampered, now, 0); !errors.Is(err, notify.ErrSignature) {
		t.Errorf("tampered body: %v", err)
	}
	if err := notify.Verify("other", r.header, r.body, now, 0); !errors.Is(err, notify.ErrSignature) {
		t.Errorf("other secret: %v", err)
	}
	if err := notify.Verify("s3cret", r.header, r.body, now.Add(6*time.Minute), 0); !errors.Is(err, notify.ErrTooOld) {
		t.Errorf("replayed 6 minutes later: %v", err)
	}
	if err := notify.Verify("s3cret", r.header, r.body, now.Add(6*time.Minute), 10*time.Minute); err != nil {
		t.Errorf("6 minutes later with a 10 minute tolerance: %v", err)
	}
}

func TestSendUnsignedAndSlack(t *testing.T) {
	srv, got := endpoint(t, nil)
	s := notify.NewSender(srv.Client(), secrets(nil), fixedClock{now})
	slack := hashike.Delivery{ID: "x", Event: "failure", Kind: notify.KindSlack, URL: srv.URL + "/services/T/B/X",
		Body: []byte(`{"text":"job nightly failed"}`)}
	for _, d := range []hashike.Delivery{webhook(srv.URL, ""), slack} {
		if err := s.Send(context.Background(), d); err != nil {
			t.Fatalf("%s: %v", d.Kind, err)
		}
	}
	reqs := got()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	for i, r := range reqs {
		if r.header.Get(notify.HeaderSignature) != "" || r.header.Get(notify.HeaderTimestamp) != "" {
			t.Errorf("request %d is signed: %v", i, r.header)
		}
		if r.header.Get("Content-Type") != "application/json" {
			t.Errorf("request %d: Content-Type %q", i, r.header.Get("Content-Type"))
		}
	}
	if string(reqs[1].body) != `{"text":"job nightly failed"}` || reqs[1].header.Get(notify.HeaderDelivery) != "" {
		t.Errorf("slack request %q %v", reqs[1].body, reqs[1].header)
	}
	if reqs[0].header.Get(notify.HeaderDelivery) != "run1-failure-0" {
		t.Errorf("unsigned webhook lacks its delivery ID: %v", reqs[0].header)
	}
}

func TestSendClassifies(t *testing.T) {
	for _, tc := range []struct {
		status     int
		retryAfter string
		permanent  bool
		wantAfter  time.Duration
	}{
		{status: 200},
		{status: 202},
		{status: 204},
		{status: 301, permanent: true},
		{status: 302, permanent: true},
		{status: 400, permanent: true},
		{status: 401, permanent: true},
		{status: 403, permanent: true},
		{status: 404, permanent: true},
		{status: 408},
		{status: 410, permanent: true},
		{status: 413, permanent: true},
		{status: 429},
		{status: 429, retryAfter: "30", wantAfter: 30 * time.Second},
		{status: 429, retryAfter: "99999999999999999999", wantAfter: notify.MaxRetryAfter},
		{status: 429, retryAfter: "soon"},
		{status: 500},
		{status: 502, retryAfter: "30"}, // Retry-After is read on 429 and 503 only
		{status: 503, retryAfter: now.Add(2 * time.Minute).Format(http.TimeFormat), wantAfter: 2 * time.Minute},
		{status: 503, retryAfter: now.Add(-time.Minute).Format(http.TimeFormat)},
		{status: 504},
	} {
		t.Run(fmt.Sprintf("%d %s", tc.status, tc.retryAfter), func(t *testing.T) {
			srv, _ := endpoint(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				if tc.status >= 300 && tc.status < 400 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tc.status)
				fmt.Fprintln(w, "  the endpoint's words  ")
			})
			s := notify.NewSender(srv.Client(), secrets(nil), fixedClock{now})
			err := s.Send(context.Background(), webhook(srv.URL+"/hook", ""))
			if tc.status < 300 {
				if err != nil {
					t.Fatalf("error %v, want delivered", err)
				}
				return
			}
			var e *notify.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v, want *notify.Error", err, err)
			}
			if e.StatusCode != tc.status || notify.Permanent(err) != tc.permanent || notify.RetryAfter(err) != tc.wantAfter {
				t.Errorf("status %d, permanent %v, retry after %v; want %d, %v, %v",
					e.StatusCode, notify.Permanent(err), notify.RetryAfter(err), tc.status, tc.permanent, tc.wantAfter)
			}
			if e.Body != "the endpoint's words" {
				t.Errorf("body %q", e.Body)
			}
		})
	}
}

func TestSendNetworkErrorHidesURL(t *testing.T) {
	srv, _ := endpoint(t, nil)
	url := srv.URL + "/services/T000/B000/SECRETTOKEN"
	srv.Close()
	s := notify.NewSender(srv.Client(), secrets(nil), fixedClock{now})
	err := s.Send(context.Background(), hashike.Delivery{ID: "x", Kind: notify.KindSlack, URL: url, Body: []byte(`{}`)})
	if err == nil || notify.Permanent(err) {
		t.Fatalf("error %v, want a retryable one", err)
	}
	if strings.Contains(err.Error(), "SECRETTOKEN") {
		t.Errorf("the error shows the URL's path: %v", err)
	}
}

func TestSendCanceled(t *testing.T) {
	release := make(chan struct{})
	srv, _ := endpoint(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	s := notify.NewSender(srv.Client(), secrets(nil), fixedClock{now})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Send(ctx, webhook(srv.URL, ""))
	if !errors.Is(err, context.Canceled) || notify.Permanent(err) {
		t.Errorf("error %v, want a retryable context.Canceled", err)
	}
}

// TestSendBoundsTheResponse: an endpoint that answers without end does not hold the sender.
func TestSendBoundsTheResponse(t *testing.T) {
	srv, _ := endpoint(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		chunk := []byte(strings.Repeat("x", 32<<10))
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	s := notify.NewSender(srv.Client(), secrets(nil), fixedClock{now})
	err := s.Send(context.Background(), webhook(srv.URL, ""))
	var e *notify.Error
	if !errors.As(err, &e) || e.StatusCode != 500 || len(e.Body) > 256 {
		t.Fatalf("error %v", err)
	}
}

func TestSendRefuses(t *testing.T) {
	srv, got := endpoint(t, nil)
	failing := func(string) (string, error) { return "", errors.New("secret store unreachable") }
	for _, tc := range []struct {
		name      string
		secrets   func(string) (string, error)
		d         hashike.Delivery
		permanent bool
	}{
		{"unknown secret", secrets(nil), webhook(srv.URL, "missing"), true},
		{"empty secret", secrets(map[string]string{"e": ""}), webhook(srv.URL, "e"), true},
		{"secret store down", failing, webhook(srv.URL, "hooks"), false},
		{"unknown kind", secrets(nil), hashike.Delivery{Kind: "email", URL: srv.URL, Body: []byte(`{}`)}, true},
		{"no body", secrets(nil), hashike.Delivery{Kind: notify.KindSlack, URL: srv.URL}, true},
		{"not http", secrets(nil), hashike.Delivery{Kind: notify.KindSlack, URL: "file:///etc/passwd", Body: []byte(`{}`)}, true},
	} {
		err := notify.NewSender(srv.Client(), tc.secrets, fixedClock{now}).Send(context.Background(), tc.d)
		if err == nil || notify.Permanent(err) != tc.permanent {
			t.Errorf("%s: error %v, permanent %v; want permanent %v", tc.name, err, notify.Permanent(err), tc.permanent)
		}
	}
	if n := len(got()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"event":"recovery"}`)
	ts := now.Unix()
	good := "v1=" + notify.Sign("key", ts, body)
	other := "v1=" + notify.Sign("old-key", ts, body)
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			out.Add(kv[i], kv[i+1])
		}
		return out
	}
	tsText := strconv.FormatInt(ts, 10)
	for _, tc := range []struct {
		name   string
		header http.Header
		at     time.Time
		want   error
	}{
		{"good", h(notify.HeaderTimestamp, tsText, notify.HeaderSignature, good), now, nil},
		{"4 minutes early", h(notify.HeaderTimestamp, tsText, notify.HeaderSignature, good), now.Add(-4 * time.Minute), nil},
		{"rotation: any v1 matches", h(notify.HeaderTimestamp, tsText, notify.HeaderSignature, other+", "+good), now, nil},
		{"two headers", h(notify.HeaderTimestamp, tsText, notify.HeaderSignature, other, notify.HeaderSignature, good), now, nil},
		{"other schemes ignored", h(notify.HeaderTimestamp, tsText, notify.HeaderSignature, "v0=abc,"+good), now, nil},
		{"wrong secret", h(notify.HeaderTimestamp, tsText, notify.HeaderSignature, other), now, notify.ErrSignature},
		{"old", h(notify.HeaderTimestamp, tsText, notify.HeaderSignature, good), now.Add(5*time.Minute + time.Second), notify.ErrTooOld},
		{"from the future", h(notify.HeaderTimestamp, tsText, notify.HeaderSignature, good), now.Add(-6 * time.Minute), notify.ErrTooOld},
		{"timestamp changed", h(notify.HeaderTimestamp, strconv.FormatInt(ts+1, 10), notify.HeaderSignature, good), now, notify.ErrSignature},
		{"no timestamp", h(notify.HeaderSignature, good), now, notify.ErrTimestamp},
		{"signed timestamp", h(notify.HeaderTimestamp, "+"+tsText, notify.HeaderSignature, good), now, notify.ErrTimestamp},
		{"fractional timestamp", h(notify.HeaderTimestamp, tsText+".5", notify.HeaderSignature, good), now, notify.ErrTimestamp},
		{"no signature", h(notify.HeaderTimestamp, tsText), now, notify.ErrNoSignature},
		{"bare hex", h(notify.HeaderTimestamp, tsText, notify.HeaderSignature, strings.TrimPrefix(good, "v1=")), now, notify.ErrNoSignature},
		{"short", h(notify.HeaderTimestamp, tsText, notify.HeaderSignature, good[:40]), now, notify.ErrNoSignature},
	} {
		err := notify.Verify("key", tc.header, body, tc.at, 0)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := notify.Verify("", h(notify.HeaderTimestamp, tsText, notify.HeaderSignature, good), body, now, 0); err == nil {
		t.Errorf("verified with an empty secret")
	}
}

// ExampleSign is the package comment's example, which a receiver can check its code against
// (printf '%s.%s' 1767225600 '{"event":"failure"}' | openssl dgst -sha256 -hmac s3cret).
func ExampleSign() {
	fmt.Println(notify.Sign("s3cret", 1767225600, []byte(`{"event":"failure"}`)))
	// Output: 6e75281e3332dd6c8a606424204a76a05a78f20f587adc966352fba53220edaa
}
