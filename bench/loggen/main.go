// Command loggen makes the log archive `make bench-logs` searches: runs of a few families and
// containers over several days, their output (realistic request-log lines, a rare ERROR among
// them) stored in a server database and archived by the real archive.Archiver into a local
// object store, plus a copy of the per-service segments as plain .zst files for `zstdcat |
// grep` to read side by side.
//
//	go run ./bench/loggen -dir /tmp/hashike-logbench -bytes 1000000000
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/archive"
	"github.com/hashike/hashike/objectfs"
	"github.com/hashike/hashike/sqlite"
)

func main() {
	dir := flag.String("dir", "/tmp/hashike-logbench", "where to make the archive (server.db, objects/, zst/)")
	total := flag.Int64("bytes", 1e9, "bytes of log text to archive")
	runs := flag.Int("runs", 48, "runs, spread over 4 families, 2 containers and 4 days")
	flag.Parse()
	if err := run(*dir, *total, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "loggen:", err)
		os.Exit(1)
	}
}

var (
	families = []string{"web", "batch", "etl", "mailer"}
	paths    = []string{"/api/v1/items", "/api/v1/users", "/api/v1/orders", "/healthz", "/api/v2/search"}
	levels   = []string{"INFO", "INFO", "INFO", "INFO", "DEBUG", "WARN"}
)

// line appends one log line of about 110 bytes; one in 20,000 is an ERROR with "timed out".
func line(dst []byte, r *rand.Rand, at time.Time) []byte {
	dst = at.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z")
	if r.IntN(20000) == 0 {
		return fmt.Appendf(dst, " ERROR upstream %s request_id=%016x timed out after %dms\n",
			paths[r.IntN(len(paths))], r.Uint64(), 1000+r.IntN(29000))
	}
	return fmt.Appendf(dst, " %s request_id=%016x method=GET path=%s/%d user=%d status=%d duration=%dms\n",
		levels[r.IntN(len(levels))], r.Uint64(), paths[r.IntN(len(paths))], r.IntN(100000), r.IntN(5000),
		[]int{200, 200, 200, 201, 204, 304, 404, 500}[r.IntN(8)], r.IntN(900))
}

func run(dir string, total int64, runs int) error {
	ctx := context.Background()
	if err := os.MkdirAll(filepath.Join(dir, "zst"), 0o755); err != nil {
		return err
	}
	db, err := sqlite.Open(filepath.Join(dir, "server.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	objects, err := objectfs.Open(filepath.Join(dir, "objects"))
	if err != nil {
		return err
	}
	arch := &archive.Archiver{Runs: db, Logs: db, Index: db, Objects: objects}
	r := rand.New(rand.NewPCG(1, 2))
	day0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	perRun := total / int64(runs)
	var text int64
	var archiving time.Duration
	for i := range runs {
		family := families[i%len(families)]
		start := day0.Add(time.Duration(i%4)*24*time.Hour + time.Duration(i)*7*time.Minute)
		sp := hashike.JobSpec{Backend: "local", TaskDefinition: hashike.TaskDefinition{Family: family,
			ContainerDefinitions: []hashike.ContainerDefinition{{Name: "app", Image: "app"}, {Name: "sidecar", Image: "envoy"}}}}
		id := fmt.Sprintf("01jdbench%017d", i)
		run := &hashike.Run{ID: id, Family: family, Backend: "local", Spec: sp, Digest: sp.Digest(), Resources: sp.Resources(),
			State: hashike.StatePending, CreatedAt: start}
		if _, _, err := db.CreateRun(ctx, run); err != nil {
			return err
		}
		if _, err := db.UpdateRun(ctx, id, hashike.RunUpdate{At: start, State: hashike.StateRunning, StartedAt: &start}); err != nil {
			return err
		}
		at := start
		var batch []hashike.LogEntry
		var arena []byte
		var size int
		flush := func() error {
			err := db.AppendLogs(ctx, id, batch)
			batch, arena, size = batch[:0], arena[:0], 0
			return err
		}
		for written := int64(0); written < perRun; {
			at = at.Add(time.Duration(r.IntN(2000)) * time.Microsecond)
			n := len(arena)
			arena = line(arena, r, at)
			cont := "app"
			if r.IntN(4) == 0 {
				cont = "sidecar"
			}
			batch = append(batch, hashike.LogEntry{Container: cont, Stream: hashike.Stdout, Time: at, Data: arena[n:]})
			size += len(arena) - n
			written += int64(len(arena) - n)
			if size >= 1<<20 {
				if err := flush(); err != nil {
					return err
				}
				arena = make([]byte, 0, 1<<20+256) // AppendLogs keeps nothing, but Data must not move under the batch
			}
		}
		if len(batch) > 0 {
			if err := flush(); err != nil {
				return err
			}
		}
		text += perRun
		state := hashike.StateSucceeded
		if i%5 == 0 {
			state = hashike.StateFailed
		}
		if _, err := db.UpdateRun(ctx, id, hashike.RunUpdate{At: at, State: state, FinishedAt: &at}); err != nil {
			return err
		}
		t := time.Now()
		if err := arch.EnsureArchived(ctx, id); err != nil {
			return err
		}
		archiving += time.Since(t)
	}
	// The plain copies for zstdcat.
	var segs, compressed int64
	err = objects.List(ctx, "logs/by-service/", func(info hashike.ObjectInfo) error {
		body, _, err := objects.Get(ctx, info.Key)
		if err != nil {
			return err
		}
		defer body.Close()
		f, err := os.Create(filepath.Join(dir, "zst", fmt.Sprintf("%06d.json.zst", segs)))
		if err != nil {
			return err
		}
		n, err := io.Copy(f, body)
		segs++
		compressed += n
		return errorsJoin(err, f.Close())
	})
	if err != nil {
		return err
	}
	fmt.Printf("archived %d MB of log text in %d runs: %d segments, %d MB compressed; archiving took %s (%.0f MB/s of text)\n",
		text/1e6, runs, segs, compressed/1e6, archiving.Round(time.Millisecond), float64(text)/1e6/archiving.Seconds())
	return nil
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
