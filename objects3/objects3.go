// Package objects3 is the hashike.ObjectStore on Amazon S3 or any S3-compatible endpoint
// (MinIO, ...): objects are stored under a bucket and a key prefix. It also implements
// hashike.ObjectURLs with presigned URLs, through which containers on ECS read their payload
// and write their result without credentials of their own.
//
// The endpoint comes from the AWS configuration: AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL)
// points it at an S3-compatible server, which usually also wants Config.PathStyle.
//
// Put sends a body of up to Config.PartSize bytes (16 MiB by default) in one PutObject, and a
// larger or unknown-length body as a multipart upload of PartSize parts, one part in memory at
// a time; S3 allows 10,000 parts, so the largest object is 10,000 x PartSize (156 GiB by
// default). A failed or cancelled multipart upload is aborted: nothing of it becomes visible.
package objects3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/hashike/hashike"
)

var (
	_ hashike.ObjectStore = (*Store)(nil)
	_ hashike.ObjectURLs  = (*Store)(nil)
)

const (
	// DefaultPartSize is the part size of multipart uploads and the largest single PutObject.
	DefaultPartSize = 16 << 20
	// MinPartSize is S3's smallest part (but the last).
	MinPartSize = 5 << 20
	maxParts    = 10000
	// MaxPresignTTL is the longest validity of a SigV4 presigned URL.
	MaxPresignTTL = 7 * 24 * time.Hour
	deleteBatch   = 1000
)

// Config says where the objects live.
type Config struct {
	// Bucket is the S3 bucket (required).
	Bucket string
	// Prefix is prepended to every key ("hashike/"); "" stores keys at the bucket's root. A
	// prefix without a final "/" gets one.
	Prefix string
	// PathStyle addresses the bucket in the path (http://endpoint/bucket/key), as most
	// S3-compatible servers want, instead of the bucket's host name.
	PathStyle bool
	// PartSize is the multipart part size in bytes; 0 means DefaultPartSize; at least
	// MinPartSize.
	PartSize int64
	// ListPageSize is the number of keys per ListObjectsV2 call; 0 means S3's 1000.
	ListPageSize int32
}

// api is the part of the S3 client the store uses.
type api interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	DeleteObjects(context.Context, *s3.DeleteObjectsInput, ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error)
	CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPart(context.Context, *s3.UploadPartInput, ...func(*s3.Options)) (*s3.UploadPartOutput, error)
	CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
}

// Store is an ObjectStore in an S3 bucket.
type Store struct {
	client  api
	presign *s3.PresignClient
	cfg     Config
}

// Validate reports every bad field of the configuration at once.
func (c Config) Validate() error {
	var fields []hashike.FieldError
	if c.Bucket == "" {
		fields = append(fields, hashike.FieldError{Path: "bucket", Message: "required"})
	}
	if p := strings.TrimSuffix(c.Prefix, "/"); p != "" {
		if err := hashike.ValidateObjectKey(p); err != nil {
			fields = append(fields, hashike.FieldError{Path: "prefix", Message: "not a valid key prefix (segments separated by single /, no . or .. segment, no control character)"})
		}
	}
	if c.PartSize != 0 && c.PartSize < MinPartSize {
		fields = append(fields, hashike.FieldError{Path: "partSize", Message: fmt.Sprintf("%d is below S3's minimum part size of %d bytes", c.PartSize, MinPartSize)})
	}
	if c.ListPageSize < 0 || c.ListPageSize > 1000 {
		fields = append(fields, hashike.FieldError{Path: "listPageSize", Message: "must be 0..1000"})
	}
	if len(fields) > 0 {
		return &hashike.Error{Code: hashike.EInvalid, Message: "invalid S3 object store configuration", Fields: fields}
	}
	return nil
}

// New returns a store using the AWS configuration (region, credentials, endpoint).
//
// Checksums are sent only where S3 requires them: S3-compatible servers do not all know the
// newer flexible checksums, and TLS already protects the bytes in transit.
func New(awsCfg aws.Config, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.Prefix != "" && !strings.HasSuffix(cfg.Prefix, "/") {
		cfg.Prefix += "/"
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.UsePathStyle = cfg.PathStyle
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	return &Store{client: client, presign: s3.NewPresignClient(client), cfg: cfg}, nil
}

func (s *Store) full(key string) string { return s.cfg.Prefix + key }

// validKey checks the key, and that with the prefix it is within S3's 1024 bytes.
func (s *Store) validKey(key string) error {
	if err := hashike.ValidateObjectKey(key); err != nil {
		return err
	}
	if len(s.full(key)) > hashike.MaxObjectKeyLen {
		return &hashike.Error{Code: hashike.EInvalid, Message: fmt.Sprintf("invalid object key: %d bytes with the store's prefix %q, S3 allows %d", len(s.full(key)), s.cfg.Prefix, hashike.MaxObjectKeyLen),
			Fields: []hashike.FieldError{{Path: "key", Message: "too long with the store's prefix"}}}
	}
	return nil
}

// isNotFound says whether S3 answered that the object (not the bucket) does not exist.
func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound {
		var nb *types.NoSuchBucket
		return !errors.As(err, &nb)
	}
	return false
}

// ctxReader fails a read as soon as its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Put stores the body in one PutObject when it fits in a part, else as a multipart upload.
// Parts are read into memory so that the SDK can sign them over plain HTTP too.
func (s *Store) Put(ctx context.Context, key string, body io.Reader, size int64, opts hashike.PutOptions) error {
	if err := s.validKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	r := ctxReader{ctx: ctx, r: body}
	first := s.cfg.PartSize
	if size >= 0 && size < first {
		first = size
	}
	buf := make([]byte, first)
	n, err := io.ReadFull(r, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("put %s: read body: %w", key, err)
	}
	buf = buf[:n]
	if size >= 0 && int64(n) < size && int64(n) < s.cfg.PartSize {
		return hashike.Errorf(hashike.EInvalid, "put %s: body has %d bytes, size says %d", key, n, size)
	}
	if int64(n) < s.cfg.PartSize || size == int64(n) {
		if size >= 0 {
			var one [1]byte
			if k, _ := io.ReadFull(r, one[:]); k > 0 {
				return hashike.Errorf(hashike.EInvalid, "put %s: body is longer than its size %d", key, size)
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("put %s: %w", key, err)
			}
		}
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:          aws.String(s.cfg.Bucket),
			Key:             aws.String(s.full(key)),
			Body:            bytes.NewReader(buf),
			ContentLength:   aws.Int64(int64(len(buf))),
			ContentType:     optional(opts.ContentType),
			ContentEncoding: optional(opts.ContentEncoding),
		})
		if err != nil {
			return fmt.Errorf("put %s: %w", key, err)
		}
		return nil
	}
	return s.putMultipart(ctx, key, r, size, buf, opts)
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

func (s *Store) putMultipart(ctx context.Context, key string, r io.Reader, size int64, first []byte, opts hashike.PutOptions) (err error) {
	up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:          aws.String(s.cfg.Bucket),
		Key:             aws.String(s.full(key)),
		ContentType:     optional(opts.ContentType),
		ContentEncoding: optional(opts.ContentEncoding),
	})
	if err != nil {
		return fmt.Errorf("put %s: create multipart upload: %w", key, err)
	}
	defer func() {
		if err != nil {
			// Abort even when ctx is what failed: the parts would otherwise be billed
			// until a lifecycle rule removes them.
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_, _ = s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
				Bucket: aws.String(s.cfg.Bucket), Key: aws.String(s.full(key)), UploadId: up.UploadId,
			})
		}
	}()
	var parts []types.CompletedPart
	total := int64(0)
	buf := first
	next := make([]byte, s.cfg.PartSize)
	for num := int32(1); ; num++ {
		if num > maxParts {
			return hashike.Errorf(hashike.ETooLarge, "put %s: larger than %d parts of %d bytes", key, maxParts, s.cfg.PartSize)
		}
		out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:        aws.String(s.cfg.Bucket),
			Key:           aws.String(s.full(key)),
			UploadId:      up.UploadId,
			PartNumber:    aws.Int32(num),
			Body:          bytes.NewReader(buf),
			ContentLength: aws.Int64(int64(len(buf))),
		})
		if err != nil {
			return fmt.Errorf("put %s: upload part %d: %w", key, num, err)
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
		total += int64(len(buf))
		want := s.cfg.PartSize
		if size >= 0 {
			want = min(want, size-total)
		}
		if want == 0 {
			if size >= 0 {
				var one [1]byte
				if k, _ := io.ReadFull(r, one[:]); k > 0 {
					return hashike.Errorf(hashike.EInvalid, "put %s: body is longer than its size %d", key, size)
				}
			}
			break
		}
		n, err := io.ReadFull(r, next[:want])
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return fmt.Errorf("put %s: read body: %w", key, err)
		}
		if size >= 0 && int64(n) < want {
			return hashike.Errorf(hashike.EInvalid, "put %s: body has %d bytes, size says %d", key, total+int64(n), size)
		}
		if n == 0 {
			break
		}
		buf, next = next[:n], buf[:cap(buf)]
		if int64(cap(next)) < s.cfg.PartSize {
			next = make([]byte, s.cfg.PartSize)
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(s.cfg.Bucket),
		Key:             aws.String(s.full(key)),
		UploadId:        up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return fmt.Errorf("put %s: complete multipart upload: %w", key, err)
	}
	return nil
}

// Get opens the object.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, hashike.ObjectInfo, error) {
	if err := s.validKey(key); err != nil {
		return nil, hashike.ObjectInfo{}, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(s.full(key))})
	if err != nil {
		if isNotFound(err) {
			return nil, hashike.ObjectInfo{}, hashike.Errorf(hashike.ENotFound, "object %s not found", key)
		}
		return nil, hashike.ObjectInfo{}, fmt.Errorf("get %s: %w", key, err)
	}
	return out.Body, hashike.ObjectInfo{
		Key:             key,
		Size:            aws.ToInt64(out.ContentLength),
		Modified:        aws.ToTime(out.LastModified),
		ContentType:     aws.ToString(out.ContentType),
		ContentEncoding: aws.ToString(out.ContentEncoding),
	}, nil
}

// Stat asks HeadObject.
func (s *Store) Stat(ctx context.Context, key string) (hashike.ObjectInfo, error) {
	if err := s.validKey(key); err != nil {
		return hashike.ObjectInfo{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(s.full(key))})
	if err != nil {
		if isNotFound(err) {
			return hashike.ObjectInfo{}, hashike.Errorf(hashike.ENotFound, "object %s not found", key)
		}
		return hashike.ObjectInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	return hashike.ObjectInfo{
		Key:             key,
		Size:            aws.ToInt64(out.ContentLength),
		Modified:        aws.ToTime(out.LastModified),
		ContentType:     aws.ToString(out.ContentType),
		ContentEncoding: aws.ToString(out.ContentEncoding),
	}, nil
}

// List pages through ListObjectsV2; S3 returns keys in UTF-8 byte order.
func (s *Store) List(ctx context.Context, prefix string, fn func(hashike.ObjectInfo) error) error {
	if err := hashike.ValidateObjectPrefix(prefix); err != nil {
		return err
	}
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.cfg.Bucket), Prefix: aws.String(s.full(prefix))}
	if s.cfg.ListPageSize > 0 {
		in.MaxKeys = aws.Int32(s.cfg.ListPageSize)
	}
	pages := s3.NewListObjectsV2Paginator(s.client, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, o := range page.Contents {
			key, ok := strings.CutPrefix(aws.ToString(o.Key), s.cfg.Prefix)
			if !ok {
				continue
			}
			if err := fn(hashike.ObjectInfo{Key: key, Size: aws.ToInt64(o.Size), Modified: aws.ToTime(o.LastModified)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete removes the objects with DeleteObjects, 1000 keys a call.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		if err := s.validKey(k); err != nil {
			return err
		}
	}
	for len(keys) > 0 {
		batch := keys[:min(len(keys), deleteBatch)]
		keys = keys[len(batch):]
		ids := make([]types.ObjectIdentifier, len(batch))
		for i, k := range batch {
			ids[i] = types.ObjectIdentifier{Key: aws.String(s.full(k))}
		}
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(s.cfg.Bucket),
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return fmt.Errorf("delete %d objects: %w", len(batch), err)
		}
		for _, e := range out.Errors {
			if aws.ToString(e.Code) == "NoSuchKey" {
				continue
			}
			return fmt.Errorf("delete %s: %s: %s", aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
		}
	}
	return nil
}

func validTTL(ttl time.Duration) error {
	if ttl <= 0 || ttl > MaxPresignTTL {
		return hashike.Errorf(hashike.EInvalid, "presigned URL validity %s is outside S3's 1s..168h", ttl)
	}
	return nil
}

// PresignGet returns a presigned GET URL. It stays valid for ttl only while the credentials
// that signed it do: sign with long-lived credentials (or a role session at least as long)
// when ttl is long.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := s.validKey(key); err != nil {
		return "", err
	}
	if err := validTTL(ttl); err != nil {
		return "", err
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(s.full(key))},
		s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("presign get %s: %w", key, err)
	}
	return req.URL, nil
}

// PresignPut returns a presigned PUT URL (see PresignGet about credentials).
func (s *Store) PresignPut(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := s.validKey(key); err != nil {
		return "", err
	}
	if err := validTTL(ttl); err != nil {
		return "", err
	}
	req, err := s.presign.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(s.full(key))},
		s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("presign put %s: %w", key, err)
	}
	return req.URL, nil
}

// LoadAWSConfig loads the AWS configuration the usual way (environment, shared files, the
// task or instance role), which includes AWS_ENDPOINT_URL_S3.
func LoadAWSConfig(ctx context.Context) (aws.Config, error) {
	return config.LoadDefaultConfig(ctx)
}
