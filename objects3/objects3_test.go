package objects3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/objects3"
	"github.com/hashike/hashike/objectstoretest"
)

// replacingBackend makes gofakes3 (v1.2.0) replace an object's headers on PutObject as S3 does;
// gofakes3 carries over the old object's headers that the new PutObject does not send, so a
// plain object stored over a gzip one would still say gzip.
type replacingBackend struct{ *s3mem.Backend }

func (b replacingBackend) PutObject(bucket, key string, meta map[string]string, in io.Reader, size int64, c *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	for _, h := range []string{"Content-Type", "Content-Encoding"} {
		if _, ok := meta[h]; !ok {
			meta[h] = ""
		}
	}
	return b.Backend.PutObject(bucket, key, meta, in, size, c)
}

// fakeS3 starts an in-process S3 with the bucket and returns the AWS configuration reaching it.
func fakeS3(t *testing.T, bucket string) aws.Config {
	t.Helper()
	backend := replacingBackend{s3mem.New()}
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIAFAKE", "secret", ""),
		BaseEndpoint: aws.String(srv.URL),
	}
}

func newStore(t *testing.T, cfg objects3.Config) *objects3.Store {
	t.Helper()
	s, err := objects3.New(fakeS3(t, cfg.Bucket), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	objectstoretest.Run(t, func(t *testing.T) hashike.ObjectStore {
		return newStore(t, objects3.Config{Bucket: "hashike", Prefix: "pre/fix", PathStyle: true,
			PartSize: objects3.MinPartSize, ListPageSize: 100})
	}, objectstoretest.Options{LargeSize: 2*objects3.MinPartSize + 12345})
}

func TestConformanceNoPrefix(t *testing.T) {
	objectstoretest.Run(t, func(t *testing.T) hashike.ObjectStore {
		return newStore(t, objects3.Config{Bucket: "hashike", PathStyle: true, PartSize: objects3.MinPartSize})
	}, objectstoretest.Options{LargeSize: objects3.MinPartSize + 1, ManyKeys: 50})
}

// A container with nothing but an HTTP client reads and writes through presigned URLs.
func TestPresignedURLs(t *testing.T) {
	s := newStore(t, objects3.Config{Bucket: "hashike", Prefix: "p", PathStyle: true})
	ctx := context.Background()
	payload := bytes.Repeat([]byte("payload "), 128<<10) // 1 MiB
	if err := s.Put(ctx, "runs/r1/payload.json", bytes.NewReader(payload), int64(len(payload)), hashike.PutOptions{ContentType: "application/json"}); err != nil {
		t.Fatal(err)
	}
	getURL, err := s.PresignGet(ctx, "runs/r1/payload.json", 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(getURL, "X-Amz-Expires=7200") {
		t.Fatalf("GET URL %s does not say it expires in 2h", getURL)
	}
	resp, err := http.Get(getURL)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, payload) {
		t.Fatalf("GET through the URL: %s, %d bytes", resp.Status, len(got))
	}

	putURL, err := s.PresignPut(ctx, "runs/r1/result", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, putURL, strings.NewReader(`{"rows":42}`))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT through the URL: %s", resp.Status)
	}
	rc, info, err := s.Get(ctx, "runs/r1/result")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != `{"rows":42}` || info.Size != 11 {
		t.Fatalf("result stored through the URL = %q (%+v)", b, info)
	}

	for _, ttl := range []time.Duration{0, -time.Second, objects3.MaxPresignTTL + time.Second} {
		if _, err := s.PresignGet(ctx, "k", ttl); hashike.ErrorCodeOf(err) != hashike.EInvalid {
			t.Errorf("PresignGet ttl %s: %v, want invalid", ttl, err)
		}
	}
	if _, err := s.PresignPut(ctx, "../k", time.Hour); hashike.ErrorCodeOf(err) != hashike.EInvalid {
		t.Errorf("PresignPut of a bad key: %v, want invalid", err)
	}
}

// The endpoint comes from AWS_ENDPOINT_URL_S3 like any SDK client's; with PathStyle the
// bucket is in the path.
func TestEndpointFromEnvironmentAndPathStyle(t *testing.T) {
	var paths atomic.Value
	backend := s3mem.New()
	_ = backend.CreateBucket("b")
	fake := gofakes3.New(backend).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths.Store(r.URL.Path)
		fake.ServeHTTP(w, r)
	}))
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL_S3", srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAFAKE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_REGION", "us-east-1")
	awsCfg, err := objects3.LoadAWSConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s, err := objects3.New(awsCfg, objects3.Config{Bucket: "b", Prefix: "hashike/", PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), "k", strings.NewReader("v"), 1, hashike.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if p, _ := paths.Load().(string); p != "/b/hashike/k" {
		t.Fatalf("request path %q, want /b/hashike/k", p)
	}
}

func TestConfigValidate(t *testing.T) {
	err := objects3.Config{Prefix: "a//b", PartSize: 1024, ListPageSize: 5000}.Validate()
	var e *hashike.Error
	if !errorsAs(err, &e) || len(e.Fields) != 4 {
		t.Fatalf("Validate = %v, want 4 field errors (bucket, prefix, partSize, listPageSize)", err)
	}
	if err := (objects3.Config{Bucket: "b", Prefix: "hashike"}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func errorsAs(err error, e **hashike.Error) bool { return errors.As(err, e) }

// The bucket prefix counts in S3's 1024 bytes of a key.
func TestKeyTooLongWithPrefix(t *testing.T) {
	s := newStore(t, objects3.Config{Bucket: "b", Prefix: "a-long-prefix/", PathStyle: true})
	key := strings.Repeat("k/", 505) + "end" // 1013 bytes: valid alone, too long with the prefix
	err := s.Put(context.Background(), key, strings.NewReader("x"), 1, hashike.PutOptions{})
	if hashike.ErrorCodeOf(err) != hashike.EInvalid || !strings.Contains(err.Error(), "prefix") {
		t.Fatalf("Put of a key too long with the prefix: %v", err)
	}
}
