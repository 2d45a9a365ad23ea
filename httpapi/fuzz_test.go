package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hashike/hashike"
)

// invalidOnly fails unless err is an EInvalid *hashike.Error that says what is wrong.
func invalidOnly(t *testing.T, err error) {
	t.Helper()
	var e *hashike.Error
	if !errors.As(err, &e) || e.Code != hashike.EInvalid {
		t.Fatalf("error %#v is not EInvalid", err)
	}
	if len(e.Fields) == 0 && e.Err == nil {
		t.Fatalf("error %q says nothing of what is wrong", e)
	}
}

// FuzzDecodeEnqueue: any body and Idempotency-Key header either decodes to a request that
// encodes and decodes to itself, or is EInvalid; never a panic.
func FuzzDecodeEnqueue(f *testing.F) {
	f.Add([]byte(``), "")
	f.Add([]byte(`{}`), "k")
	f.Add([]byte(`{"payload":{"a":[1,2,{"b":null}]},"delay":"1h30m","priority":-100,"queue":"q","idempotencyKey":"k","version":3}`), "k")
	f.Add([]byte(`{"notBefore":"2026-03-02T09:00:00.123456789+09:00"}`), "")
	f.Add([]byte(`{"priority":1e3}`), "")
	f.Add([]byte(`{"payload":"\u00e9\ud800"} `), "x")
	f.Add([]byte(`{"Payload":1}`), "")
	f.Add([]byte(`{"delay":"-5s"}{}`), "")
	f.Add([]byte(`1`), "")
	f.Add([]byte(` null`), "")
	f.Add([]byte(`{"payload":{"s":"[[[{\"\\"}","a":[[[[]]]]}}`), "")
	f.Add([]byte(`{"payload":`+strings.Repeat("[", 200)+strings.Repeat("]", 200)+`}`), "")
	f.Fuzz(func(t *testing.T, data []byte, header string) {
		var hdr []string
		if header != "" {
			hdr = []string{header}
		}
		req, err := decodeEnqueue(data, hdr)
		if err != nil {
			invalidOnly(t, err)
			return
		}
		if header != "" && req.IdempotencyKey != header {
			t.Fatalf("key %q, header %q", req.IdempotencyKey, header)
		}
		enc, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("accepted a request that does not encode: %v", err)
		}
		again, err := decodeEnqueue(enc, nil)
		if err != nil {
			t.Fatalf("%s does not decode: %v", enc, err)
		}
		if enc2, _ := json.Marshal(again); !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip:\n%s\n%s", enc, enc2)
		}
	})
}

// FuzzDecodeQueue: a queue body decodes to settings that round-trip, or is EInvalid.
func FuzzDecodeQueue(f *testing.F) {
	f.Add([]byte(`{"maxConcurrency":3,"paused":true}`))
	f.Add([]byte(`{"maxConcurrency":-1}`))
	f.Add([]byte(`{"maxConcurrency":"3"}`))
	f.Add([]byte(`{"paused":null}`))
	f.Add([]byte(`null`))
	f.Add([]byte(` `))
	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := decodeQueue("q", data)
		if err != nil {
			invalidOnly(t, err)
			return
		}
		if q.Name != "q" {
			t.Fatalf("name %q", q.Name)
		}
		enc, _ := json.Marshal(queueBody{MaxConcurrency: q.MaxConcurrency, Paused: q.Paused})
		if again, err := decodeQueue("q", enc); err != nil || again != q {
			t.Fatalf("round trip of %s: %+v %v", enc, again, err)
		}
	})
}

// FuzzDecodeToken: a token body decodes to a valid scope, or is EInvalid.
func FuzzDecodeToken(f *testing.F) {
	f.Add([]byte(`{"name":"ci","scope":"submit"}`))
	f.Add([]byte(`{"name":"ci","scope":"Admin"}`))
	f.Add([]byte(`{"name":7,"scope":"read"}`))
	f.Add([]byte(`{"name":"a\u0000b","scope":"read","scope":"admin"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := decodeToken(data)
		if err != nil {
			invalidOnly(t, err)
			return
		}
		if !b.Scope.Valid() {
			t.Fatalf("scope %q accepted", b.Scope)
		}
		enc, _ := json.Marshal(b)
		if again, err := decodeToken(enc); err != nil || again != b {
			t.Fatalf("round trip of %s: %+v %v", enc, again, err)
		}
	})
}

// FuzzParseRunQuery: a query of GET /v1/runs parses to a query within the limits that
// encodes and parses to itself, or is EInvalid.
func FuzzParseRunQuery(f *testing.F) {
	f.Add("")
	f.Add("state=queued,running&state=failed&job=etl&queue=q&root=r&limit=500&cursor=c")
	f.Add("limit=0")
	f.Add("limit=+7&state=%20queued")
	f.Add("job=a&job=b&status=x")
	f.Add("cursor=%zz")
	f.Add("state=,,&job=%2C")
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := parseQuery(raw, runQueryParams)
		if err != nil {
			invalidOnly(t, err)
			return
		}
		q, err := parseRunQuery(v)
		if err != nil {
			invalidOnly(t, err)
			return
		}
		if q.Limit < 1 || q.Limit > MaxRunLimit {
			t.Fatalf("limit %d", q.Limit)
		}
		for i, s := range q.States {
			if !s.Valid() || slices.Contains(q.States[:i], s) {
				t.Fatalf("states %q", q.States)
			}
		}
		enc := q.values().Encode()
		v2, err := parseQuery(enc, runQueryParams)
		if err != nil {
			t.Fatalf("%q: %v", enc, err)
		}
		again, err := parseRunQuery(v2)
		if err != nil || !reflect.DeepEqual(again, q) {
			t.Fatalf("round trip of %q via %q: %+v, want %+v (%v)", raw, enc, again, q, err)
		}
	})
}
