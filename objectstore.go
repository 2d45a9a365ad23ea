package hashike

import (
	"context"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ObjectStore keeps blobs by key: archived log segments, payloads, scripts and results. Keys
// are slash-separated paths relative to the store's root or bucket prefix ("logs/by-task/...");
// a key is 1..1024 bytes of UTF-8 (S3 counts its bucket prefix in the 1024), does not start or end with "/", has no empty, "." or ".."
// segment and no control character (EInvalid otherwise). Every method is safe for concurrent
// use. Implementations (the local filesystem, S3) run objectstoretest's conformance suite.
//
// A key must not also be a whole-segment prefix of another key ("a" and "a/b"): S3 holds both,
// the local filesystem cannot (a file and a directory of one name), and refuses the second
// with EConflict. hashike's own layouts never need both.
type ObjectStore interface {
	// Put stores the object under key, replacing any object there. Readers never see a
	// partial object: a Put that fails or is cancelled leaves the previous object (or none).
	// size is the body's length, or -1 when unknown.
	Put(ctx context.Context, key string, body io.Reader, size int64, opts PutOptions) error
	// Get opens the object for reading; the caller closes it. ENotFound when there is none.
	Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error)
	// Stat returns the object's metadata; ENotFound when there is none.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// List calls fn for every object whose key starts with prefix, in lexical (byte) order of
	// keys. An error of fn stops the listing and is returned. The ObjectInfo has Key, Size and
	// Modified; ContentType and ContentEncoding may be empty (S3 lists do not carry them).
	// prefix is "" or a key's beginning: its complete segments follow the key rules.
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error
	// Delete removes the objects; keys that do not exist are not an error.
	Delete(ctx context.Context, keys ...string) error
}

// ObjectURLs is the role of an ObjectStore that containers reach over HTTP (S3): presigned
// URLs, so a container on ECS can read its payload and write its result without credentials
// of its own. The local filesystem has no URLs: locally the object is a mounted file.
type ObjectURLs interface {
	// PresignGet returns a URL through which an HTTP GET reads the object until ttl has
	// passed.
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
	// PresignPut returns a URL through which an HTTP PUT stores the object until ttl has
	// passed.
	PresignPut(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// PutOptions describe an object being stored.
type PutOptions struct {
	// ContentType ("application/json", "application/x-ndjson") and ContentEncoding ("zstd",
	// "gzip") are stored with the object and given back by Get and Stat.
	ContentType     string
	ContentEncoding string
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key             string
	Size            int64
	Modified        time.Time
	ContentType     string
	ContentEncoding string
}

// MaxObjectKeyLen is the longest key in bytes (S3's limit).
const MaxObjectKeyLen = 1024

// ValidateObjectKey reports, as EInvalid, why key is not a valid ObjectStore key.
func ValidateObjectKey(key string) error {
	if msg := objectKeyProblem(key, false); msg != "" {
		return &Error{Code: EInvalid, Message: "invalid object key " + quoteKey(key) + ": " + msg,
			Fields: []FieldError{{Path: "key", Message: msg}}}
	}
	return nil
}

// ValidateObjectPrefix reports, as EInvalid, why prefix cannot begin a key: "" and "logs/"
// and "logs/by-ta" are valid; "/x", "a//" and "../x" are not.
func ValidateObjectPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if msg := objectKeyProblem(prefix, true); msg != "" {
		return &Error{Code: EInvalid, Message: "invalid object key prefix " + quoteKey(prefix) + ": " + msg,
			Fields: []FieldError{{Path: "prefix", Message: msg}}}
	}
	return nil
}

func quoteKey(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return strconv.Quote(s)
}

// objectKeyProblem says what is wrong with a key (or, when prefix, with a key's beginning,
// whose last segment may be partial or empty), "" when nothing is.
func objectKeyProblem(key string, prefix bool) string {
	switch {
	case key == "":
		return "empty"
	case len(key) > MaxObjectKeyLen:
		return "longer than 1024 bytes"
	case !utf8.ValidString(key):
		return "not valid UTF-8"
	case strings.HasPrefix(key, "/"):
		return "starts with /"
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f {
			return "has a control character"
		}
	}
	segs := strings.Split(key, "/")
	last := len(segs) - 1
	for i, seg := range segs {
		if i == last && prefix {
			break // a partial segment: "" (the prefix ends with /), "by-ta", ".." of "..x"
		}
		switch seg {
		case "":
			if i == last {
				return "ends with /"
			}
			return "has an empty segment (//)"
		case ".", "..":
			return "has a " + seg + " segment"
		}
	}
	return ""
}
