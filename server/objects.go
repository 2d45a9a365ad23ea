package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
)

// What a run's containers see of payloads passed by reference and of results (README
// "Payloads and results").
const (
	// EnvPayloadURL is a presigned GET of the payload, on a backend without files (ECS), when
	// the payload is over the inline threshold: HASHIKE_PAYLOAD is then not set.
	EnvPayloadURL = "HASHIKE_PAYLOAD_URL"
	// EnvResultURL is a presigned PUT through which a container on ECS stores its result;
	// EnvResultKey is that object's key in the server's object store.
	EnvResultURL = "HASHIKE_RESULT_URL"
	EnvResultKey = "HASHIKE_RESULT_KEY"
	// EnvPreviousResultURL (ECS) and EnvPreviousResultFile (local) give a retry the result of
	// the try before it, when that try wrote one.
	EnvPreviousResultURL  = "HASHIKE_PREVIOUS_RESULT_URL"
	EnvPreviousResultFile = "HASHIKE_PREVIOUS_RESULT_FILE"
	// EnvScriptURL is a presigned GET of the run's script (--script) on ECS, when it is too
	// large for the command; ScriptPath is where a local task has it.
	EnvScriptURL = "HASHIKE_SCRIPT_URL"
	ScriptPath   = "/hashike/script"
	// FetchScript is the command (for /bin/sh -c) of an ECS task whose script is passed by
	// reference: it fetches the script with curl or wget and runs it with /bin/sh.
	FetchScript = `f=$(mktemp 2>/dev/null || echo /tmp/hashike-script) && ` +
		`if command -v curl >/dev/null 2>&1; then curl -fsSL -o "$f" "$HASHIKE_SCRIPT_URL"; ` +
		`elif command -v wget >/dev/null 2>&1; then wget -q -O "$f" "$HASHIKE_SCRIPT_URL"; ` +
		`else echo "hashike: the image has neither curl nor wget to fetch the script" >&2; exit 127; fi && exec /bin/sh "$f"`
	// ResultPath is where a local container writes its result; its directory, /hashike, is
	// writable by every user.
	ResultPath         = "/hashike/result"
	PreviousResultPath = "/hashike/previous-result"
	hashikeDir         = "/hashike"

	// ECSInlinePayloadBytes is the largest payload passed inline on ECS: RunTask's overrides
	// carry 8 KiB in all, and the run's other variables and URLs need their share.
	ECSInlinePayloadBytes = 4096
	// DefaultMaxResultBytes bounds a result unless MaxResultBytes says otherwise.
	DefaultMaxResultBytes = 8 << 20
	// DefaultURLMargin is added to a run's timeout for the validity of its URLs: the time a
	// task may wait for capacity and to start.
	DefaultURLMargin = time.Hour
	// MaxURLTTL is the longest a presigned URL can be valid (S3's SigV4 limit), and the
	// validity of the URLs of a run without a timeout.
	MaxURLTTL = 7 * 24 * time.Hour
)

// ScriptKey is the object key of an enqueue's script passed by reference.
func ScriptKey(rootID string) string { return "runs/" + rootID + "/script" }

// PayloadKey is the object key of an enqueue's payload passed by reference: one per enqueue,
// under its first try's ID, read by every try.
func PayloadKey(rootID string) string { return "runs/" + rootID + "/payload.json" }

// RunPrefix is the prefix of the object keys of a run's own objects (its payload and script,
// when it is an enqueue's first try, and its result): they go when the run is deleted.
func RunPrefix(runID string) string { return "runs/" + runID + "/" }

// ResultKey is the object key of a run's result.
func ResultKey(runID string) string { return "runs/" + runID + "/result" }

// inlineLimit is the largest payload passed inline to a run on backend.
func (s *Server) inlineLimit(backend string) int {
	if backend == "local" {
		return s.cfg.InlinePayloadBytes
	}
	return min(s.cfg.InlinePayloadBytes, ECSInlinePayloadBytes)
}

// byReference says whether payload goes to the object store rather than into the run's
// variables; ETooLarge errors say why it can go neither way.
func (s *Server) byReference(backend string, payload []byte) (bool, error) {
	return s.byReferenceOf(backend, "payload", payload)
}

// byReferenceOf is byReference for the request's field (payload, overrides.script).
func (s *Server) byReferenceOf(backend, field string, payload []byte) (bool, error) {
	if len(payload) <= s.inlineLimit(backend) {
		return false, nil
	}
	tooLarge := func(why string) error {
		msg := fmt.Sprintf("is %d bytes, over the %d bytes passed inline on backend %s, and %s", len(payload), s.inlineLimit(backend), backend, why)
		return &hashike.Error{Code: hashike.ETooLarge, Message: field + " " + msg,
			Fields: []hashike.FieldError{{Path: field, Message: msg, Severity: hashike.SeverityError}}}
	}
	if s.cfg.Objects == nil {
		return false, tooLarge("the server has no object store to pass it by reference")
	}
	if backend != "local" && s.cfg.ObjectURLs == nil {
		return false, tooLarge("the server's object store gives no URLs for containers to read it (configure objectStore.s3)")
	}
	return true, nil
}

// byRefObject is a new enqueue's payload or script passed by reference.
type byRefObject struct {
	name string // hashike.RunObjectPayload or RunObjectScript
	data []byte
}

// objectKey is where an enqueue's payload or script is stored.
func objectKey(rootID, name string) string {
	if name == hashike.RunObjectScript {
		return ScriptKey(rootID)
	}
	return PayloadKey(rootID)
}

// createRun records a new enqueue's first try, its payload and script passed by reference
// stored as objects first (PayloadKey, ScriptKey). A run that already existed (idempotency
// key) keeps its own: what was stored for this one is deleted.
func (s *Server) createRun(ctx context.Context, run *hashike.Run, objs ...byRefObject) (*hashike.Run, bool, error) {
	var keys []string
	for _, o := range objs {
		key := objectKey(run.RootID, o.name)
		ctype := "application/json"
		if o.name == hashike.RunObjectScript {
			ctype = "text/x-shellscript"
		}
		if err := s.cfg.Objects.Put(ctx, key, bytes.NewReader(o.data), int64(len(o.data)), hashike.PutOptions{ContentType: ctype}); err != nil {
			return nil, false, fmt.Errorf("store the %s of run %s: %w", o.name, run.ID, err)
		}
		keys = append(keys, key)
		// Recorded before the run, so that no run is ever without its record; a record
		// whose run was never created (an error below) names a run that does not exist.
		if err := s.store.PutRunObject(ctx, hashike.RunObject{RunID: run.RootID, Name: o.name, Key: key,
			Size: int64(len(o.data)), ContentType: ctype, CreatedAt: s.clock.Now()}); err != nil {
			return nil, false, err
		}
	}
	stored, created, err := s.store.CreateRun(ctx, run)
	if (err != nil || !created) && len(keys) > 0 {
		_ = s.cfg.Objects.Delete(context.WithoutCancel(ctx), keys...)
	}
	if err == nil && created {
		s.metrics.RunEnqueued(stored)
	}
	return stored, created, err
}

// scriptOverride turns an enqueue's script into the container's command: /bin/sh -c SCRIPT
// when it fits inline, else a command that runs the script stored by reference (returned, to
// be stored with the run): the mounted /hashike/script locally, fetched from
// HASHIKE_SCRIPT_URL on ECS.
func (s *Server) scriptOverride(backend string, o *api.Overrides) (*api.Overrides, []byte, error) {
	if o == nil || o.Script == "" {
		return o, nil, nil
	}
	if o.Command != nil {
		return nil, nil, invalid("overrides.script", "give a script or a command, not both")
	}
	script := o.Script
	c := *o
	c.Script = ""
	if len(script) > s.cfg.MaxPayloadBytes {
		msg := fmt.Sprintf("is %d bytes; the limit is %d (the server's --max-payload)", len(script), s.cfg.MaxPayloadBytes)
		return nil, nil, &hashike.Error{Code: hashike.ETooLarge, Message: "overrides.script " + msg,
			Fields: []hashike.FieldError{{Path: "overrides.script", Message: msg, Severity: hashike.SeverityError}}}
	}
	byRef, err := s.byReferenceOf(backend, "overrides.script", []byte(script))
	if err != nil {
		return nil, nil, err
	}
	switch {
	case !byRef:
		c.Command = []string{"/bin/sh", "-c", script, "hashike-script"}
		return &c, nil, nil
	case backend == "local":
		c.Command = []string{"/bin/sh", ScriptPath}
	default:
		c.Command = []string{"/bin/sh", "-c", FetchScript}
	}
	return &c, []byte(script), nil
}

// payloadOf returns a run's payload, inline or by reference (nil for none).
func (s *Server) payloadOf(ctx context.Context, run *hashike.Run) ([]byte, error) {
	if len(run.Payload) > 0 {
		return run.Payload, nil
	}
	o, err := s.payloadObject(ctx, run)
	if err != nil || o == nil {
		return nil, err
	}
	return s.readObject(ctx, o.Key, o.Size)
}

// payloadObject is the record of a run's payload by reference; nil when it has none.
func (s *Server) payloadObject(ctx context.Context, run *hashike.Run) (*hashike.RunObject, error) {
	if len(run.Payload) > 0 || s.cfg.Objects == nil || run.RootID == "" {
		return nil, nil
	}
	o, err := s.store.GetRunObject(ctx, run.RootID, hashike.RunObjectPayload)
	if hashike.ErrorCodeOf(err) == hashike.ENotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &o, nil
}

// readObject reads a whole object of about size bytes (it may not be larger).
func (s *Server) readObject(ctx context.Context, key string, size int64) ([]byte, error) {
	rc, _, err := s.cfg.Objects.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, size+1))
	if err != nil {
		return nil, fmt.Errorf("read object %s: %w", key, err)
	}
	if int64(len(b)) > size {
		return nil, fmt.Errorf("object %s is larger than the %d bytes recorded", key, size)
	}
	return b, nil
}

// urlTTL is how long a run's URLs stay valid: its whole life, from this start.
func (s *Server) urlTTL(run *hashike.Run) time.Duration {
	if run.Spec.Timeout <= 0 {
		return MaxURLTTL
	}
	return min(time.Duration(run.Spec.Timeout)+s.cfg.URLMargin, MaxURLTTL)
}

// startObjects is what a start of run needs of the object store: the files to put into a
// local task (its payload, the writable /hashike, the previous try's result), or the
// variables of an ECS task (presigned URLs, made now so that each start, a retry's too, gets
// URLs valid for its whole life).
func (s *Server) startObjects(ctx context.Context, run *hashike.Run) ([]hashike.File, []hashike.KeyValuePair, error) {
	var files []hashike.File
	var env []hashike.KeyValuePair
	local := run.Backend == "local"
	payload, err := s.payloadObject(ctx, run)
	if err != nil {
		return nil, nil, fmt.Errorf("payload: %w", err)
	}
	switch {
	case len(run.Payload) > 0:
		files = append(files, hashike.File{Path: PayloadPath, Data: run.Payload})
	case payload != nil && local:
		b, err := s.readObject(ctx, payload.Key, payload.Size)
		if err != nil {
			return nil, nil, fmt.Errorf("payload: %w", err)
		}
		files = append(files, hashike.File{Path: PayloadPath, Data: b})
	case payload != nil:
		if s.cfg.ObjectURLs == nil {
			return nil, nil, fmt.Errorf("payload: the object store gives no URLs for the container to read it")
		}
		u, err := s.cfg.ObjectURLs.PresignGet(ctx, payload.Key, s.urlTTL(run))
		if err != nil {
			return nil, nil, fmt.Errorf("payload: %w", err)
		}
		env = append(env, hashike.KeyValuePair{Name: EnvPayloadURL, Value: u})
	}
	if s.cfg.Objects == nil || !run.ServerRun() {
		return files, env, nil
	}
	script, err := s.store.GetRunObject(ctx, run.RootID, hashike.RunObjectScript)
	switch {
	case hashike.ErrorCodeOf(err) == hashike.ENotFound:
	case err != nil:
		return nil, nil, fmt.Errorf("script: %w", err)
	case local:
		b, err := s.readObject(ctx, script.Key, script.Size)
		if err != nil {
			return nil, nil, fmt.Errorf("script: %w", err)
		}
		files = append(files, hashike.File{Path: ScriptPath, Data: b})
	case s.cfg.ObjectURLs != nil:
		u, err := s.cfg.ObjectURLs.PresignGet(ctx, script.Key, s.urlTTL(run))
		if err != nil {
			return nil, nil, fmt.Errorf("script: %w", err)
		}
		env = append(env, hashike.KeyValuePair{Name: EnvScriptURL, Value: u})
	default:
		return nil, nil, fmt.Errorf("script: the object store gives no URLs for the container to read it")
	}
	if local {
		files = append(files, hashike.File{Path: hashikeDir, Dir: true})
	} else if s.cfg.ObjectURLs != nil {
		key := ResultKey(run.ID)
		u, err := s.cfg.ObjectURLs.PresignPut(ctx, key, s.urlTTL(run))
		if err != nil {
			return nil, nil, fmt.Errorf("result: %w", err)
		}
		env = append(env, hashike.KeyValuePair{Name: EnvResultURL, Value: u}, hashike.KeyValuePair{Name: EnvResultKey, Value: key})
	}
	if run.RetryOf != "" {
		prev, err := s.store.GetRunObject(ctx, run.RetryOf, hashike.RunObjectResult)
		switch {
		case hashike.ErrorCodeOf(err) == hashike.ENotFound || (err == nil && prev.Key == ""):
		case err != nil:
			return nil, nil, fmt.Errorf("previous result: %w", err)
		case local:
			b, err := s.readObject(ctx, prev.Key, prev.Size)
			if err != nil {
				return nil, nil, fmt.Errorf("previous result: %w", err)
			}
			files = append(files, hashike.File{Path: PreviousResultPath, Data: b})
			env = append(env, hashike.KeyValuePair{Name: EnvPreviousResultFile, Value: PreviousResultPath})
		case s.cfg.ObjectURLs != nil:
			u, err := s.cfg.ObjectURLs.PresignGet(ctx, prev.Key, s.urlTTL(run))
			if err != nil {
				return nil, nil, fmt.Errorf("previous result: %w", err)
			}
			env = append(env, hashike.KeyValuePair{Name: EnvPreviousResultURL, Value: u})
		}
	}
	return files, env, nil
}

// collectResult stores and records the result the stopped task of run wrote: read out of the
// local container (ResultPath), or found in the object store where the ECS task PUT it. A
// result over MaxResultBytes is recorded as an error and not kept.
func (s *Server) collectResult(ctx context.Context, run *hashike.Run, b hashike.Backend, ref hashike.TaskRef) error {
	if s.cfg.Objects == nil || !run.ServerRun() {
		return nil
	}
	key := ResultKey(run.ID)
	limit := s.cfg.MaxResultBytes
	tooLarge := func(size int64, detail string) error {
		msg := fmt.Sprintf("the result is over the limit of %d bytes (maxResultBytes)%s: not kept", limit, detail)
		if size > 0 {
			msg = fmt.Sprintf("the result of %d bytes is over the limit of %d bytes (maxResultBytes): not kept", size, limit)
		}
		return s.store.PutRunObject(ctx, hashike.RunObject{RunID: run.ID, Name: hashike.RunObjectResult, Size: size, Error: msg, CreatedAt: s.clock.Now()})
	}
	if files, ok := b.(hashike.TaskFiles); ok && run.Backend == "local" {
		data, _, err := files.ReadFile(ctx, ref, ResultPath, limit)
		switch {
		case err == nil:
		case hashike.ErrorCodeOf(err) == hashike.ENotFound:
			return nil
		case hashike.ErrorCodeOf(err) == hashike.ETooLarge:
			return tooLarge(0, ": "+err.Error())
		default:
			return fmt.Errorf("read the result: %w", err)
		}
		ctype := "application/octet-stream"
		if json.Valid(data) {
			ctype = "application/json"
		}
		if err := s.cfg.Objects.Put(ctx, key, bytes.NewReader(data), int64(len(data)), hashike.PutOptions{ContentType: ctype}); err != nil {
			return fmt.Errorf("store the result: %w", err)
		}
		return s.store.PutRunObject(ctx, hashike.RunObject{RunID: run.ID, Name: hashike.RunObjectResult, Key: key,
			Size: int64(len(data)), ContentType: ctype, CreatedAt: s.clock.Now()})
	}
	info, err := s.cfg.Objects.Stat(ctx, key)
	if hashike.ErrorCodeOf(err) == hashike.ENotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look for the result: %w", err)
	}
	if info.Size > limit {
		if err := s.cfg.Objects.Delete(ctx, key); err != nil {
			return fmt.Errorf("delete the result over the limit: %w", err)
		}
		return tooLarge(info.Size, "")
	}
	return s.store.PutRunObject(ctx, hashike.RunObject{RunID: run.ID, Name: hashike.RunObjectResult, Key: key,
		Size: info.Size, ContentType: info.ContentType, CreatedAt: s.clock.Now()})
}

// RunResult opens the result of a run (see api.Runs). ENotFound when the run wrote none;
// ETooLarge, with the reason, when the one it wrote was over the limit and not kept.
func (s *Server) RunResult(ctx context.Context, id string) (api.ResultInfo, io.ReadCloser, error) {
	run, err := s.store.GetRun(ctx, id)
	if err != nil {
		return api.ResultInfo{}, nil, err
	}
	if s.cfg.Objects == nil {
		return api.ResultInfo{}, nil, hashike.Errorf(hashike.ENotFound, "run %s has no result: the server keeps none (it has no object store)", run.ID)
	}
	o, err := s.store.GetRunObject(ctx, run.ID, hashike.RunObjectResult)
	if err != nil {
		if hashike.ErrorCodeOf(err) == hashike.ENotFound {
			return api.ResultInfo{}, nil, hashike.Errorf(hashike.ENotFound, "run %s has no result (it is %s; a result is what the container writes to %s or %s)", run.ID, run.State, ResultPath, EnvResultURL)
		}
		return api.ResultInfo{}, nil, err
	}
	if o.Error != "" {
		return api.ResultInfo{}, nil, hashike.Errorf(hashike.ETooLarge, "run %s: %s", run.ID, o.Error)
	}
	rc, info, err := s.cfg.Objects.Get(ctx, o.Key)
	if err != nil {
		if hashike.ErrorCodeOf(err) == hashike.ENotFound {
			return api.ResultInfo{}, nil, hashike.Errorf(hashike.ENotFound, "run %s: its result is no longer in the object store", run.ID)
		}
		return api.ResultInfo{}, nil, err
	}
	ctype := o.ContentType
	if ctype == "" {
		ctype = info.ContentType
	}
	return api.ResultInfo{RunID: run.ID, Size: info.Size, ContentType: ctype, CreatedAt: o.CreatedAt}, rc, nil
}
