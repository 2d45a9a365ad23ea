package httpapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// TestRequestID: a request's ID is the client's when it sent a sane one, else a new one; the
// response carries it and the request's log record says it.
func TestRequestID(t *testing.T) {
	generated := regexp.MustCompile(`^[0-9a-f]{32}$`)
	for _, tc := range []struct {
		name, sent string
		want       *regexp.Regexp
	}{
		{"sent", "req-7f3a/2026:12:06", regexp.MustCompile(`^req-7f3a/2026:12:06$`)},
		{"none", "", generated},
		{"with a space", "a b", generated},
		{"with a quote", `a"b`, generated},
		{"too long", strings.Repeat("x", 129), generated},
		{"at the limit", strings.Repeat("x", 128), regexp.MustCompile(`^x{128}$`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			h := NewHandler(newFake(), Options{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
			var header []string
			if tc.sent != "" {
				header = []string{HeaderRequestID, tc.sent}
			}
			r := serve(t, h, "GET", "/v1/jobs", read, "", header...)
			id := r.header.Get(HeaderRequestID)
			if !tc.want.MatchString(id) {
				t.Fatalf("response %s: %q, want %s", HeaderRequestID, id, tc.want)
			}
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("%v: %s", err, buf.String())
			}
			if rec["request_id"] != id {
				t.Errorf("the request's log record has request_id %v, the response %q: %s", rec["request_id"], id, buf.String())
			}
		})
	}
	// Two requests without an ID get two IDs.
	h := NewHandler(newFake(), Options{})
	a := serve(t, h, "GET", "/healthz", "", "").header.Get(HeaderRequestID)
	b := serve(t, h, "GET", "/healthz", "", "").header.Get(HeaderRequestID)
	if a == b {
		t.Errorf("two requests got the same ID %q", a)
	}
}

func TestLogRequestIDsOutsideARequest(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogRequestIDs(slog.NewJSONHandler(&buf, nil))).With("replica", "r1")
	ctx := t.Context()
	log.InfoContext(ctx, "outside a request")
	if strings.Contains(buf.String(), "request_id") || !strings.Contains(buf.String(), `"replica":"r1"`) {
		t.Errorf("outside a request: %s", buf.String())
	}
}

// FuzzRequestID: whatever a client sends as X-Request-Id, the request's ID is either what it
// sent (printable ASCII without spaces, quotes or backslashes, 1-128 bytes) or 32 hex digits,
// so that it can never break a log line.
func FuzzRequestID(f *testing.F) {
	for _, s := range []string{"", "abc", "a b", "x\ny", `a"b`, strings.Repeat("z", 129), "\x7f", "ünïcode"} {
		f.Add(s)
	}
	generated := regexp.MustCompile(`^[0-9a-f]{32}$`)
	f.Fuzz(func(t *testing.T, sent string) {
		req := httptest.NewRequest("GET", "/healthz", nil)
		req.Header[HeaderRequestID] = []string{sent}
		id := requestID(req)
		if id == sent {
			if !validRequestID(id) {
				t.Fatalf("%q kept though invalid", sent)
			}
			for _, c := range []byte(id) {
				if c <= ' ' || c > '~' || c == '"' || c == '\\' {
					t.Fatalf("%q kept with byte %q", sent, c)
				}
			}
			return
		}
		if !generated.MatchString(id) {
			t.Fatalf("%q became %q", sent, id)
		}
	})
}
