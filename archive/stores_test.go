package archive_test

import (
	"context"
	"io"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/archive"
	"github.com/hashike/hashike/objectfs"
	"github.com/hashike/hashike/objects3"
)

// fakeS3 is an S3 store on an in-process gofakes3, under a key prefix.
func fakeS3(t *testing.T) hashike.ObjectStore {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket("logs"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIAFAKE", "secret", ""),
		BaseEndpoint: aws.String(srv.URL)}
	s, err := objects3.New(cfg, objects3.Config{Bucket: "logs", Prefix: "prod/hashike", PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRealStores archives, reads back and searches on the two real object stores: the local
// filesystem and S3 (gofakes3), and checks the Athena layout by listing keys.
func TestRealStores(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) hashike.ObjectStore{
		"filesystem": func(t *testing.T) hashike.ObjectStore {
			s, err := objectfs.Open(filepath.Join(t.TempDir(), "objects"))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"s3": fakeS3,
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			objects := open(t)
			f := newFixture(t)
			f.arch.Objects, f.logs.Objects = objects, objects
			f.arch.SegmentBytes = 2000
			id := "01jd0000000000000000000001"
			f.createRun(t, id, "web")
			batches := output(80)
			all := appendAll(t, f.db, id, batches[:3])
			if err := f.arch.Roll(ctx, id); err != nil {
				t.Fatal(err)
			}
			all = append(all, appendAll(t, f.db, id, batches[3:])...)
			f.endRun(t, id)
			if err := f.arch.EnsureArchived(ctx, id); err != nil {
				t.Fatal(err)
			}

			// The layout, listed from the store.
			var keys []string
			err := objects.List(ctx, "logs/", func(o hashike.ObjectInfo) error {
				keys = append(keys, o.Key)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			arc, err := f.db.LogArchive(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, g := range arc.Segments {
				want = append(want, g.TaskKey, g.ServiceKey)
			}
			slices.Sort(want)
			if !slices.Equal(keys, want) || len(arc.Segments) < 4 {
				t.Fatalf("keys listed:\n%s\nwant the %d segments' two keys:\n%s", strings.Join(keys, "\n"), len(arc.Segments), strings.Join(want, "\n"))
			}
			for _, k := range keys {
				ok := strings.HasPrefix(k, "logs/by-task/family=web/container=") && strings.Contains(k, "/run="+id+"/") ||
					strings.HasPrefix(k, "logs/by-service/family=web/container=") && strings.Contains(k, "/dt=2026-12-0")
				if !ok || !strings.HasSuffix(k, ".json.zst") {
					t.Errorf("key %s is not in the Hive layout", k)
				}
			}
			// A segment is a zstd stream of JSON lines as stored.
			body, info, err := objects.Get(ctx, keys[0])
			if err != nil {
				t.Fatal(err)
			}
			if info.ContentEncoding != "zstd" || info.ContentType != "application/x-ndjson" {
				t.Errorf("%s: content type %q, encoding %q", info.Key, info.ContentType, info.ContentEncoding)
			}
			raw, _ := io.ReadAll(body)
			body.Close()
			if lines := decodeLines(t, raw); !strings.HasPrefix(lines[0], `{"run_id":"`+id+`","n":`) {
				t.Errorf("%s starts with %q", keys[0], lines[0])
			}

			// Read back from the archive once the database's copy is gone, and search.
			f.dropDBLogs(t, id)
			got, _ := readAll(t, f.logs, id)
			sameEntries(t, "read from "+name, all, got)
			s := &archive.Searcher{Objects: objects, Runs: f.db}
			q := hashike.LogQuery{Family: "web", Pattern: "timed out"}
			var found []string
			if err := s.SearchLogs(ctx, q, func(m hashike.LogMatch) error { found = append(found, matchString(m)); return nil }); err != nil {
				t.Fatal(err)
			}
			slices.Sort(found)
			if exp := expect([]archivedRun{{id: id, family: "web", state: hashike.StateSucceeded, entries: all}}, q); !slices.Equal(found, exp) || len(exp) == 0 {
				t.Errorf("search found:\n%s\nwant:\n%s", strings.Join(found, "\n"), strings.Join(exp, "\n"))
			}
		})
	}
}
