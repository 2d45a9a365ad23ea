package notify_test

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike/notify"
)

// FuzzVerify feeds Verify any timestamp and signature headers: it never panics, fails only
// with its documented errors, succeeds only when a v1 value is the body's signature at a
// timestamp within the tolerance, and always succeeds once that signature is added.
func FuzzVerify(f *testing.F) {
	body := `{"event":"failure"}`
	ts := strconv.FormatInt(now.Unix(), 10)
	good := "v1=" + notify.Sign("key", now.Unix(), []byte(body))
	for _, seed := range [][3]string{
		{ts, good, body},
		{ts, "v0=00, " + good + ",v1=zz", body},
		{ts, strings.ToUpper(good[3:]), body},
		{"0" + ts, good, body},
		{"", "", ""},
		{"99999999999999999999", "v1=", "{}"},
		{ts, strings.Repeat("v1="+strings.Repeat("a", 64)+",", 20), body},
		{" " + ts + " ", "=,=,v1==", body},
	} {
		f.Add(seed[0], seed[1], []byte(seed[2]))
	}
	f.Fuzz(func(t *testing.T, tsText, sig string, body []byte) {
		h := http.Header{}
		h.Set(notify.HeaderTimestamp, tsText)
		h.Set(notify.HeaderSignature, sig)
		err := notify.Verify("key", h, body, now, 0)
		if err != nil {
			if !errors.Is(err, notify.ErrTimestamp) && !errors.Is(err, notify.ErrNoSignature) &&
				!errors.Is(err, notify.ErrTooOld) && !errors.Is(err, notify.ErrSignature) {
				t.Fatalf("undocumented error %v", err)
			}
		}
		n, perr := strconv.ParseInt(strings.TrimSpace(tsText), 10, 64)
		canonical := perr == nil && strconv.FormatInt(n, 10) == strings.TrimSpace(tsText)
		inTolerance := perr == nil && n >= now.Add(-notify.DefaultTolerance).Unix() && n <= now.Add(notify.DefaultTolerance).Unix()
		if err == nil {
			if !inTolerance {
				t.Fatalf("verified timestamp %q, outside the tolerance", tsText)
			}
			if canonical && !strings.Contains(strings.ToLower(sig), notify.Sign("key", n, body)) {
				t.Fatalf("verified %q without the body's signature", sig)
			}
		}
		if canonical && inTolerance && !strings.ContainsAny(tsText, " \t") {
			h.Set(notify.HeaderSignature, "v1="+notify.Sign("key", n, body))
			if err := notify.Verify("key", h, body, now, time.Duration(0)); err != nil {
				t.Fatalf("a good signature at %s fails: %v", tsText, err)
			}
		}
	})
}
