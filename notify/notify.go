// Package notify delivers the notifications of `hashike server` (hashike.Delivery) over
// HTTP: webhooks, signed when the job names a secret, and Slack incoming webhooks. It is an
// adapter on net/http; the server decides what to send, when, and how often to retry, from
// what Send returns.
//
// # Verifying a webhook
//
// A signed webhook carries these headers (Stripe's scheme, so that a receiver can reject a
// forged or replayed request); here the secret is "s3cret" and the body {"event":"failure"}:
//
//	X-Hashike-Timestamp: 1767225600
//	X-Hashike-Signature: v1=6e75281e3332dd6c8a606424204a76a05a78f20f587adc966352fba53220edaa
//	X-Hashike-Delivery:  01JH2Z3Y4X5W6V7T8S9R0Q1P2N-failure-0
//	X-Hashike-Event:     failure
//
// To verify one in any language:
//
//  1. Take the timestamp header's value t (Unix seconds, decimal) and the request body
//     exactly as received, before any JSON parsing.
//  2. Compute HMAC-SHA256 with the secret's bytes as the key over t, a ".", and the body;
//     write it as lowercase hexadecimal.
//  3. Compare it, in constant time (hmac.compare_digest in Python, crypto.timingSafeEqual
//     in Node.js, hmac.Equal in Go), with each "v1=" value of the signature header (a
//     comma-separated list; values of other versions are ignored). One must match.
//  4. Reject the request when t is more than a few minutes (Verify's tolerance; 5 by
//     default) away from your clock: a captured request replayed later fails there.
//  5. Deliveries are at least once: the same X-Hashike-Delivery may arrive again after a
//     timeout, so act on each ID once.
//
// With a shell, step 2 is
//
//	printf '%s.%s' "$t" "$body" | openssl dgst -sha256 -hmac "$secret"
//
// and in Go, Verify does all but step 5.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashike/hashike"
)

// Headers of a webhook.
const (
	HeaderSignature = "X-Hashike-Signature"
	HeaderTimestamp = "X-Hashike-Timestamp"
	HeaderDelivery  = "X-Hashike-Delivery"
	HeaderEvent     = "X-Hashike-Event"
)

// Kinds of delivery, as job.KindWebhook and job.KindSlack name them.
const (
	KindWebhook = "webhook"
	KindSlack   = "slack"
)

const (
	// UserAgent is what Send says it is.
	UserAgent = "hashike-notify/1"
	// DefaultTolerance is how far a webhook's timestamp may be from the receiver's clock
	// when Verify is given no tolerance.
	DefaultTolerance = 5 * time.Minute
	// DefaultTimeout bounds an attempt of a Sender made without an http.Client.
	DefaultTimeout = 10 * time.Second
	// MaxRetryAfter bounds the delay an endpoint's Retry-After can ask for.
	MaxRetryAfter = 24 * time.Hour

	// maxResponseBody bounds what is read of a response; maxErrorBody what of it an error
	// quotes.
	maxResponseBody = 64 << 10
	maxErrorBody    = 256
)

// Sender sends deliveries. It is safe for concurrent use.
type Sender struct {
	client  *http.Client
	secrets func(name string) (string, error)
	clock   hashike.Clock
}

// NewSender returns a Sender on client (nil: one with DefaultTimeout), resolving the
// secrets that webhooks name with secrets and signing them at clock's time. It does not
// follow redirects: a POST turned into a GET by a 302 would be a delivery that did not
// happen, so a 3xx is a failure that names the status.
func NewSender(client *http.Client, secrets func(name string) (string, error), clock hashike.Clock) *Sender {
	c := http.Client{Timeout: DefaultTimeout}
	if client != nil {
		c = *client
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Sender{client: &c, secrets: secrets, clock: clock}
}

// Error is a failed delivery attempt. Its message never holds the URL's path or query,
// which can be the credential (a Slack webhook's URL is).
type Error struct {
	// Host is the endpoint's host.
	Host string
	// StatusCode is the response's status; 0 when there was no response.
	StatusCode int
	// Body is the start of the response body, for the operator.
	Body string
	// RetryAfter is the delay a 429 or 503 response asked for (Retry-After), at most
	// MaxRetryAfter; 0 when it named none.
	RetryAfter time.Duration
	// Permanent: trying the same delivery again cannot succeed (a 4xx other than 408 and
	// 429, a 3xx, a delivery that cannot be sent as it is).
	Permanent bool
	// Err is the cause when there was no response.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("notify")
	if e.Host != "" {
		b.WriteString(" " + e.Host)
	}
	b.WriteString(": ")
	switch {
	case e.StatusCode != 0:
		fmt.Fprintf(&b, "HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
		if e.Body != "" {
			fmt.Fprintf(&b, ": %q", e.Body)
		}
		if e.RetryAfter > 0 {
			fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
		}
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Permanent reports whether err says that sending the same delivery again cannot succeed.
// Any other error (a network error, a timeout, 408, 429, 5xx) is worth retrying.
func Permanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// RetryAfter returns the delay the endpoint asked for before the next attempt, or 0.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// Send makes one attempt to deliver d: it POSTs d.Body as application/json to d.URL, signed
// (see the package comment) when d is a webhook naming a secret. It returns nil once the
// endpoint answered 2xx, else an *Error: Permanent tells whether to try again, RetryAfter
// when. An endpoint may see a delivery more than once (it answered after ctx ended), never
// a retry of a delivery Send reported as delivered.
func (s *Sender) Send(ctx context.Context, d hashike.Delivery) error {
	u, err := url.Parse(d.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &Error{Permanent: true, Err: errors.New("the delivery's URL is not an http or https URL")}
	}
	fail := func(format string, args ...any) error {
		return &Error{Host: u.Host, Permanent: true, Err: fmt.Errorf(format, args...)}
	}
	if d.Kind != KindWebhook && d.Kind != KindSlack {
		return fail("unknown kind %q: webhook or slack", d.Kind)
	}
	if len(d.Body) == 0 {
		return fail("the delivery has no body")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		return fail("%v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	if d.Kind == KindWebhook {
		req.Header.Set(HeaderDelivery, d.ID)
		req.Header.Set(HeaderEvent, d.Event)
		if d.Secret != "" {
			secret, err := s.secrets(d.Secret)
			if err != nil {
				// A secret that does not exist will not appear by itself; anything else
				// (the secret store being down) may pass.
				code := hashike.ErrorCodeOf(err)
				return &Error{Host: u.Host, Permanent: code == hashike.ENotFound || code == hashike.EInvalid,
					Err: fmt.Errorf("resolve secret %s: %w", d.Secret, err)}
			}
			if secret == "" {
				return fail("secret %s is empty", d.Secret)
			}
			ts := s.clock.Now().Unix()
			req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
			req.Header.Set(HeaderSignature, "v1="+Sign(secret, ts, d.Body))
		}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// url.Error's message holds the whole URL: keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return &Error{Host: u.Host, Err: err}
	}
	defer resp.Body.Close()
	// The endpoint's answer is read only so far: it is not ours to store, and an endpoint
	// that streams forever must not hold the sender.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	e := &Error{Host: u.Host, StatusCode: resp.StatusCode, Body: snippet(body)}
	switch c := resp.StatusCode; {
	case c == http.StatusTooManyRequests || c == http.StatusServiceUnavailable:
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), s.clock.Now())
	case c == http.StatusRequestTimeout || c >= 500:
	default:
		e.Permanent = true
	}
	return e
}

// snippet is the start of a response body, as valid UTF-8 with no surrounding space.
func snippet(b []byte) string {
	if len(b) > maxErrorBody {
		b = b[:maxErrorBody]
	}
	return strings.TrimSpace(strings.ToValidUTF8(string(b), string(utf8.RuneError)))
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date. It returns 0
// for an absent or malformed value, or a date that is past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if strings.Trim(v, "0123456789") == "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n > uint64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter // more digits than a uint64 holds is still a long time
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), MaxRetryAfter)
}

// Sign returns the hex HMAC-SHA256 of timestamp + "." + body under secret: the value of a
// webhook's "v1=" signature.
func Sign(secret string, timestamp int64, body []byte) string {
	return hex.EncodeToString(mac(secret, strconv.FormatInt(timestamp, 10), body))
}

func mac(secret, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Errors of Verify.
var (
	ErrNoSignature = errors.New("notify: no " + HeaderSignature + " v1 signature")
	ErrTimestamp   = errors.New("notify: no valid " + HeaderTimestamp)
	ErrTooOld      = errors.New("notify: the timestamp is outside the tolerance (a replay, or a clock far off)")
	ErrSignature   = errors.New("notify: the signature does not match the body")
)

// Verify checks a webhook as a receiver gets it: the v1 signature of header over body under
// secret, and that the timestamp is within tolerance of now (DefaultTolerance when
// tolerance <= 0), in the past or the future. It returns nil or one of the errors above
// (wrapped). Any of the first 8 "v1=" values may match, so a sender may sign with an old
// and a new secret while they are rotated.
func Verify(secret string, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	if secret == "" {
		return errors.New("notify: Verify needs the secret")
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	tsText := strings.TrimSpace(header.Get(HeaderTimestamp))
	ts, err := parseTimestamp(tsText)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrTimestamp, err)
	}
	sigs := signatures(header.Values(HeaderSignature))
	if len(sigs) == 0 {
		return ErrNoSignature
	}
	if age := now.Sub(time.Unix(ts, 0)); age > tolerance || age < -tolerance {
		return fmt.Errorf("%w: %s from now", ErrTooOld, age.Round(time.Second))
	}
	want := mac(secret, tsText, body)
	ok := false
	for _, s := range sigs {
		// Every value is compared, so the time taken does not say which one matched.
		if hmac.Equal(s, want) {
			ok = true
		}
	}
	if !ok {
		return ErrSignature
	}
	return nil
}

// parseTimestamp reads decimal Unix seconds: digits only, as Send writes them.
func parseTimestamp(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("missing")
	}
	if len(s) > 12 { // past the year 33000
		return 0, errors.New("out of range")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not decimal seconds", s)
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

// signatures returns the decoded v1 values of the signature headers: comma-separated
// "scheme=hex" pairs, where other schemes and malformed values are skipped. It stops at
// maxSignatures: enough to rotate secrets, and no more work for a crafted header.
func signatures(values []string) [][]byte {
	var out [][]byte
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			scheme, val, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || scheme != "v1" || len(val) != 2*sha256.Size {
				continue
			}
			if b, err := hex.DecodeString(val); err == nil {
				out = append(out, b)
				if len(out) == maxSignatures {
					return out
				}
			}
		}
	}
	return out
}

const maxSignatures = 8
