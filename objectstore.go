package hashike

import (
	"context"
	"io"
	"time"
)

// ObjectStore keeps blobs by key: archived log segments, payloads, scripts and results. Keys
// are slash-separated paths relative to the store's root or bucket prefix ("logs/by-task/...");
// a key is 1..1024 bytes of UTF-8, does not start or end with "/", has no empty, "." or ".."
// segment and no control character (EInvalid otherwise). Every method is safe for concurrent
// use. Implementations (the local filesystem, S3) run objectstoretest's conformance suite.
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
	// keys. An error of fn stops the listing and is returned.
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
