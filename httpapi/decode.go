package httpapi

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
)

// Body limits. An enqueue's or rerun's body may hold the service's MaxPayloadBytes plus
// envelopeBytes for the other fields.
const (
	envelopeBytes      = 64 << 10
	maxSmallBodyBytes  = 64 << 10 // queue, token and cancel bodies
	maxDefinitionBytes = 4 << 20  // a job definition
	// maxGitHubWebhookBytes: GitHub caps a payload at 25 MB, but a workflow_job event is a few
	// kilobytes (github.MaxWebhookBody).
	maxGitHubWebhookBytes = 1 << 20
	// MaxBodyDepth bounds the nesting of a JSON body, its payload included: encoding/json
	// would follow 10,000 levels, and a payload is handed on to every try of a run.
	MaxBodyDepth = 64
)

// Paging of GET /v1/runs.
const (
	DefaultRunLimit = 50
	MaxRunLimit     = 500
)

// readBody reads the request's body, at most limit bytes: a longer one is ETooLarge, refused
// before more than limit bytes are read (at once when its Content-Length says so).
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(limit)
		}
		return nil, &hashike.Error{Code: hashike.EInvalid, Message: "reading the request body", Err: err}
	}
	return data, nil
}

func tooLarge(limit int64) error {
	return hashike.Errorf(hashike.ETooLarge, "request body is larger than %d bytes", limit)
}

// decodeJSON decodes data, a JSON object, into v, a pointer to a struct of plain fields. It
// refuses, naming the field: a key that is not one of the struct's JSON names (exactly, not
// in another case as encoding/json would allow), a value of the wrong type, malformed JSON
// and data after the object. Empty data (or whitespace) is an empty object when optional.
func decodeJSON(data []byte, v any, optional bool) error {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		if optional {
			return nil
		}
		return invalid("request body", "", "a JSON object is required")
	}
	if trimmed[0] != '{' {
		// encoding/json would take null as no change, leaving every field its default.
		return bodyError("", "expected object, got "+jsonValueKind(trimmed[0]), pos(data, int64(len(data)-len(trimmed))))
	}
	if off := tooDeep(data, MaxBodyDepth); off >= 0 {
		return bodyError("", fmt.Sprintf("nested more than %d levels deep (the limit)", MaxBodyDepth), pos(data, int64(off)))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return bodyError("", "unexpected data after the JSON object", pos(data, dec.InputOffset()))
	}
	// encoding/json matched keys without regard to case; the API's names are exact.
	var keys map[string]json.RawMessage
	if json.Unmarshal(data, &keys) == nil {
		names := jsonNames(reflect.TypeOf(v).Elem())
		for k := range keys {
			if !names[k] {
				return bodyError(k, "unknown field", "")
			}
		}
	}
	return nil
}

// jsonValueKind names the kind of JSON value that starts with c.
func jsonValueKind(c byte) string {
	switch {
	case c == '[':
		return "array"
	case c == '"':
		return "string"
	case c == '-' || c >= '0' && c <= '9':
		return "number"
	case c == 't' || c == 'f':
		return "boolean"
	case c == 'n':
		return "null"
	}
	return "a malformed value"
}

// tooDeep returns the offset of the first array or object of data nested deeper than limit,
// or -1. It reads strings as JSON does and is otherwise blind to syntax, which the decoder
// checks after it.
func tooDeep(data []byte, limit int) int {
	depth, inString := 0, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			if depth++; depth > limit {
				return i
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return -1
}

func bodyError(path, msg, pos string) error {
	return &hashike.Error{Code: hashike.EInvalid, Message: "invalid request body",
		Fields: []hashike.FieldError{{Path: path, Message: msg, Severity: hashike.SeverityError, Pos: pos}}}
}

// jsonError describes a json.Decoder error as a field error.
func jsonError(data []byte, err error) error {
	var ute *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &ute):
		return bodyError(ute.Field, fmt.Sprintf("expected %s, got %s", jsonKind(ute.Type), ute.Value), "")
	case errors.As(err, &se):
		return bodyError("", "malformed JSON: "+se.Error(), pos(data, se.Offset-1)) // Offset is after the bad byte
	case errors.Is(err, io.ErrUnexpectedEOF):
		return bodyError("", "malformed JSON: unexpected end of the body", pos(data, int64(len(data))))
	}
	// DisallowUnknownFields's error has no type of its own.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if s, err := strconv.Unquote(name); err == nil {
			name = s
		}
		return bodyError(name, "unknown field", "")
	}
	return bodyError("", err.Error(), "")
}

// pos is "request:line:col" of the byte at offset in data.
func pos(data []byte, offset int64) string {
	offset = min(max(offset, 0), int64(len(data)))
	before := data[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int64(len(before)-bytes.LastIndexByte(before, '\n')-1) + 1
	return fmt.Sprintf("request:%d:%d", line, col)
}

// jsonKind names t as JSON would.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "string"
		}
		return "array"
	}
	return t.String()
}

// jsonNames returns the JSON names of a struct's fields.
func jsonNames(t reflect.Type) map[string]bool {
	names := map[string]bool{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		names[name] = true
	}
	return names
}

// enqueueBody is api.EnqueueRequest on the wire: delay and notBefore are decoded here so
// that their errors name them (a type's own UnmarshalJSON error does not say where it was).
// A test keeps the names equal to EnqueueRequest's.
type enqueueBody struct {
	Payload        json.RawMessage `json:"payload"`
	Delay          *string         `json:"delay"`
	NotBefore      *string         `json:"notBefore"`
	Priority       *int            `json:"priority"`
	Queue          string          `json:"queue"`
	IdempotencyKey string          `json:"idempotencyKey"`
	Version        int             `json:"version"`
	Overrides      *overridesBody  `json:"overrides"`
}

// overridesBody is api.Overrides on the wire, its timeout decoded here (see enqueueBody).
type overridesBody struct {
	Container   string                 `json:"container"`
	Command     []string               `json:"command"`
	Environment []hashike.KeyValuePair `json:"environment"`
	Cpu         *int                   `json:"cpu"`
	Memory      *int                   `json:"memory"`
	Timeout     *string                `json:"timeout"`
	Script      string                 `json:"script"`
}

// decodeEnqueue decodes an enqueue's body (may be empty) and its Idempotency-Key header
// values: the header is the field's other spelling; both given and different is EInvalid.
func decodeEnqueue(data []byte, keyHeader []string) (api.EnqueueRequest, error) {
	var b enqueueBody
	if err := decodeJSON(data, &b, true); err != nil {
		return api.EnqueueRequest{}, err
	}
	req := api.EnqueueRequest{Payload: b.Payload, Priority: b.Priority, Queue: b.Queue,
		IdempotencyKey: b.IdempotencyKey, Version: b.Version}
	if o := b.Overrides; o != nil {
		req.Overrides = &api.Overrides{Container: o.Container, Command: o.Command, Environment: o.Environment, Cpu: o.Cpu, Memory: o.Memory, Script: o.Script}
		if o.Timeout != nil {
			d, err := hashike.ParseDuration(*o.Timeout)
			if err != nil {
				return api.EnqueueRequest{}, bodyError("overrides.timeout", err.Error(), "")
			}
			t := hashike.Duration(d)
			req.Overrides.Timeout = &t
		}
	}
	if b.Delay != nil {
		d, err := hashike.ParseDuration(*b.Delay)
		if err != nil {
			return api.EnqueueRequest{}, bodyError("delay", err.Error(), "")
		}
		req.Delay = hashike.Duration(d)
	}
	if b.NotBefore != nil {
		var t time.Time
		if err := t.UnmarshalText([]byte(*b.NotBefore)); err != nil {
			return api.EnqueueRequest{}, bodyError("notBefore", fmt.Sprintf("expected an RFC 3339 time such as \"2006-01-02T15:04:05Z\", got %q", *b.NotBefore), "")
		}
		req.NotBefore = &t
	}
	switch {
	case len(keyHeader) > 1:
		return api.EnqueueRequest{}, invalid("header", "Idempotency-Key", "given more than once")
	case len(keyHeader) == 1 && keyHeader[0] != "":
		if !utf8.ValidString(keyHeader[0]) || strings.ContainsFunc(keyHeader[0], unicode.IsControl) {
			// The body's key is JSON text; the header's must be text too, or the key
			// stored is not the key sent (and PostgreSQL refuses it).
			return api.EnqueueRequest{}, invalid("header", "Idempotency-Key", "must be UTF-8 text without control characters")
		}
		if req.IdempotencyKey != "" && req.IdempotencyKey != keyHeader[0] {
			return api.EnqueueRequest{}, invalid("request", "idempotencyKey", "differs from the Idempotency-Key header")
		}
		req.IdempotencyKey = keyHeader[0]
	}
	return req, nil
}

func decodeRerun(data []byte) (api.RerunRequest, error) {
	var req api.RerunRequest
	err := decodeJSON(data, &req, true)
	return req, err
}

func decodeCancel(data []byte) (api.CancelRequest, error) {
	var req api.CancelRequest
	err := decodeJSON(data, &req, true)
	return req, err
}

func decodePrune(data []byte) (api.PruneRequest, error) {
	var req api.PruneRequest
	err := decodeJSON(data, &req, true)
	return req, err
}

// queueBody is the body of PUT /v1/queues/{name}; the name is the path's.
type queueBody struct {
	MaxConcurrency int  `json:"maxConcurrency"`
	Paused         bool `json:"paused"`
}

func decodeQueue(name string, data []byte) (hashike.QueueConfig, error) {
	var b queueBody
	if err := decodeJSON(data, &b, false); err != nil {
		return hashike.QueueConfig{}, err
	}
	return hashike.QueueConfig{Name: name, MaxConcurrency: b.MaxConcurrency, Paused: b.Paused}, nil
}

// tokenBody is the body of POST /v1/tokens.
type tokenBody struct {
	Name  string        `json:"name"`
	Scope hashike.Scope `json:"scope"`
}

func decodeToken(data []byte) (tokenBody, error) {
	var b tokenBody
	if err := decodeJSON(data, &b, false); err != nil {
		return tokenBody{}, err
	}
	if !b.Scope.Valid() {
		return tokenBody{}, bodyError("scope", fmt.Sprintf("expected %q, %q or %q, got %q",
			hashike.ScopeRead, hashike.ScopeSubmit, hashike.ScopeAdmin, b.Scope), "")
	}
	return b, nil
}

// parseQuery parses a raw query, refusing a malformed one and names not in allowed (a
// misspelt filter would otherwise select everything).
func parseQuery(raw string, allowed []string) (url.Values, error) {
	v, err := url.ParseQuery(raw)
	if err != nil {
		return nil, &hashike.Error{Code: hashike.EInvalid, Message: "invalid query", Err: err}
	}
	var fields []hashike.FieldError
	for name := range v {
		if !slices.Contains(allowed, name) {
			fields = append(fields, queryField(name, "unknown query parameter"))
		}
	}
	if fields != nil {
		return nil, queryError(fields)
	}
	return v, nil
}

func queryField(name, format string, args ...any) hashike.FieldError {
	return hashike.FieldError{Path: name, Message: fmt.Sprintf(format, args...), Severity: hashike.SeverityError}
}

// queryError is EInvalid with fields ordered by name, not by map order.
func queryError(fields []hashike.FieldError) error {
	slices.SortStableFunc(fields, func(a, b hashike.FieldError) int { return cmp.Compare(a.Path, b.Path) })
	return &hashike.Error{Code: hashike.EInvalid, Message: "invalid query", Fields: fields}
}

// single returns the one value of a query parameter ("" when absent).
func single(v url.Values, name string) (string, *hashike.FieldError) {
	switch vs := v[name]; len(vs) {
	case 0:
		return "", nil
	case 1:
		return vs[0], nil
	default:
		f := queryField(name, "given %d times", len(vs))
		return "", &f
	}
}

// queryVersion parses ?version=N (0 or absent: the latest).
func queryVersion(v url.Values) (int, error) {
	s, f := single(v, "version")
	if f != nil {
		return 0, queryError([]hashike.FieldError{*f})
	}
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, queryError([]hashike.FieldError{queryField("version", "expected a version number, got %q", s)})
	}
	return n, nil
}

// queryBool parses ?name=true|false (absent: false).
func queryBool(v url.Values, name string) (bool, error) {
	s, f := single(v, name)
	if f != nil {
		return false, queryError([]hashike.FieldError{*f})
	}
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, queryError([]hashike.FieldError{queryField(name, "expected true or false, got %q", s)})
	}
	return b, nil
}

// RunQuery selects runs for GET /v1/runs: every field is optional.
type RunQuery struct {
	// States selects runs in any of these states.
	States []hashike.RunState
	// Job, Queue and Root select a job's runs, a queue's runs, and the tries of one enqueue
	// (Root is the first try's ID).
	Job   string
	Queue string
	Root  string
	// Limit is the page size: 0 means DefaultRunLimit; at most MaxRunLimit.
	Limit int
	// Cursor is the previous page's RunPage.Next.
	Cursor string
}

// runQueryParams are the query parameters of GET /v1/runs.
var runQueryParams = []string{"state", "job", "queue", "root", "limit", "cursor"}

// values encodes q as a query.
func (q RunQuery) values() url.Values {
	v := url.Values{}
	if len(q.States) > 0 {
		s := make([]string, len(q.States))
		for i, st := range q.States {
			s[i] = string(st)
		}
		v.Set("state", strings.Join(s, ","))
	}
	for name, s := range map[string]string{"job": q.Job, "queue": q.Queue, "root": q.Root, "cursor": q.Cursor} {
		if s != "" {
			v.Set(name, s)
		}
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// parseRunQuery parses GET /v1/runs's query, reporting every bad parameter at once. state may
// be repeated or comma-separated; limit defaults to DefaultRunLimit.
func parseRunQuery(v url.Values) (RunQuery, error) {
	var q RunQuery
	var fields []hashike.FieldError
	for _, s := range v["state"] {
		for st := range strings.SplitSeq(s, ",") {
			if st := hashike.RunState(strings.TrimSpace(st)); st.Valid() {
				if !slices.Contains(q.States, st) {
					q.States = append(q.States, st)
				}
			} else {
				fields = append(fields, queryField("state", "unknown state %q", st))
			}
		}
	}
	for name, dst := range map[string]*string{"job": &q.Job, "queue": &q.Queue, "root": &q.Root, "cursor": &q.Cursor} {
		s, f := single(v, name)
		if f != nil {
			fields = append(fields, *f)
		}
		*dst = s
	}
	q.Limit = DefaultRunLimit
	if s, f := single(v, "limit"); f != nil {
		fields = append(fields, *f)
	} else if s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxRunLimit {
			fields = append(fields, queryField("limit", "expected a number from 1 to %d, got %q", MaxRunLimit, s))
		} else {
			q.Limit = n
		}
	}
	if fields != nil {
		return RunQuery{}, queryError(fields)
	}
	return q, nil
}

// queryOf is the query of f, which GET /v1/runs can express when f sets only the fields a
// RunQuery has.
func queryOf(f hashike.RunFilter) (RunQuery, error) {
	var bad []hashike.FieldError
	for name, set := range map[string]bool{"Family": f.Family != "", "Since": !f.Since.IsZero(), "Active": f.Active,
		"Unsettled": f.Unsettled, "TaskIDs": len(f.TaskIDs) > 0, "OldestFirst": f.OldestFirst} {
		if set {
			bad = append(bad, hashike.FieldError{Path: name, Message: "not a filter of GET /v1/runs"})
		}
	}
	if bad != nil {
		slices.SortFunc(bad, func(a, b hashike.FieldError) int { return strings.Compare(a.Path, b.Path) })
		return RunQuery{}, &hashike.Error{Code: hashike.EInvalid, Message: "run filter", Fields: bad}
	}
	return RunQuery{States: f.States, Job: f.Job, Queue: f.Queue, Root: f.RootID, Limit: f.Limit, Cursor: f.Before}, nil
}

// filter is the RunFilter q selects.
func (q RunQuery) filter() hashike.RunFilter {
	return hashike.RunFilter{States: q.States, Job: q.Job, Queue: q.Queue, RootID: q.Root,
		Before: q.Cursor, Limit: q.Limit}
}
