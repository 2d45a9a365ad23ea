package retention_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/retention"
	"github.com/hashike/hashike/sqlite"
)

// The database under retention: days of simulated runs on a SQLite store, each run created,
// started and ended through the Store with realistic output, and a pruner pass at the end of
// each simulated day (a fake clock). What it measures is the database file's size at the end
// of each day, after a checkpoint that empties the WAL into it: with logs and runs kept 7 days it must stop
// growing once the first week has filled it.

// simDay is one simulated day's figures.
type simDay struct {
	Day      int
	Runs     int   // created that day
	Logs     int   // runs whose logs the day's pass deleted
	Deleted  int   // runs the day's pass deleted
	Bytes    int64 // the database file after the pass
	WAL      int64 // its write-ahead log (bounded by the store's checkpoints)
	PassTime time.Duration
}

type settableClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *settableClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}
func (c *settableClock) set(t time.Time)                      { c.mu.Lock(); c.now = t; c.mu.Unlock() }
func (c *settableClock) After(time.Duration) <-chan time.Time { return make(chan time.Time) }

// benchSpec is a job's spec of a realistic size (about 700 bytes of JSON).
func benchSpec() hashike.JobSpec {
	env := []hashike.KeyValuePair{}
	for i := range 6 {
		env = append(env, hashike.KeyValuePair{Name: fmt.Sprintf("APP_SETTING_%d", i), Value: fmt.Sprintf("value-%d-of-the-job-configuration", i)})
	}
	return hashike.JobSpec{Backend: "ecs", Timeout: hashike.Duration(30 * time.Minute),
		TaskDefinition: hashike.TaskDefinition{Family: "recipe-indexer", Cpu: "512", Memory: "1024",
			ContainerDefinitions: []hashike.ContainerDefinition{{
				Name: "app", Image: "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/recipe-indexer:2026.11.30-1",
				Command: []string{"bundle", "exec", "rake", "recipes:index[batch]"}, Environment: env,
			}}}}
}

// benchLogs is one run's output: lines lines of about 100 bytes, in two appends.
func benchLogs(rnd *rand.Rand, at time.Time, lines int) [][]hashike.LogEntry {
	var out [][]hashike.LogEntry
	for part := range 2 {
		var es []hashike.LogEntry
		for i := range lines / 2 {
			t := at.Add(time.Duration(part*lines/2+i) * time.Second)
			es = append(es, hashike.LogEntry{Container: "app", Stream: hashike.Stdout, Time: t,
				Data: fmt.Appendf(nil, "%s INFO indexed recipe id=%d batch=%x took=%dms status=ok\n",
					t.Format(time.RFC3339), rnd.IntN(50_000_000), rnd.Uint32(), rnd.IntN(900))})
		}
		out = append(out, es)
	}
	return out
}

func fileSize(paths ...string) int64 {
	var n int64
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// simulate runs days of runsPerDay runs on a new SQLite store in dir, with the retention
// policy, and returns each day's figures.
func simulate(tb testing.TB, dir string, runsPerDay, days, lines int, policy retention.Policy, onDay func(simDay)) []simDay {
	ctx := context.Background()
	path := filepath.Join(dir, "hashike.db")
	s, err := sqlite.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	clk := &settableClock{}
	p, err := retention.New(retention.Config{Store: s, Clock: clk})
	if err != nil {
		tb.Fatal(err)
	}
	spec := benchSpec()
	digest, res := spec.Digest(), spec.Resources()
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var out []simDay
	const workers = 8
	for d := range days {
		day := start.AddDate(0, 0, d)
		step := 24 * time.Hour / time.Duration(runsPerDay)
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rnd := rand.New(rand.NewPCG(uint64(d), uint64(w)))
				for i := w; i < runsPerDay; i += workers {
					created := day.Add(time.Duration(i) * step)
					id := fmt.Sprintf("01sim%03d%010d", d, i)
					run := &hashike.Run{ID: id, Family: spec.TaskDefinition.Family, Backend: spec.Backend, Spec: spec,
						Digest: digest, Resources: res, CreatedAt: created}
					if _, _, err := s.CreateRun(ctx, run); err != nil {
						errs <- err
						return
					}
					started, ended := created.Add(2*time.Second), created.Add(time.Duration(60+rnd.IntN(120))*time.Second)
					if _, err := s.UpdateRun(ctx, id, hashike.RunUpdate{At: started, State: hashike.StateRunning, StartedAt: &started}); err != nil {
						errs <- err
						return
					}
					for _, es := range benchLogs(rnd, started, lines) {
						if err := s.AppendLogs(ctx, id, es); err != nil {
							errs <- err
							return
						}
					}
					code := 0
					if _, err := s.UpdateRun(ctx, id, hashike.RunUpdate{At: ended, State: hashike.StateSucceeded, FinishedAt: &ended,
						Exit: &hashike.ExitStatus{ContainerExitCode: &code, Reason: "container app exited 0"}}); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			tb.Fatalf("day %d: %v", d+1, err)
		}
		clk.set(day.AddDate(0, 0, 1))
		t0 := time.Now()
		rep, err := p.Prune(ctx, policy, false)
		if err != nil {
			tb.Fatalf("day %d: prune: %v", d+1, err)
		}
		checkpoint(tb, path)
		sd := simDay{Day: d + 1, Runs: runsPerDay, Logs: rep.Logs, Deleted: rep.Runs,
			Bytes: fileSize(path), WAL: fileSize(path + "-wal"), PassTime: time.Since(t0)}
		out = append(out, sd)
		if onDay != nil {
			onDay(sd)
		}
	}
	return out
}

func week() *hashike.Duration { return days(7) }

// checkpoint copies the WAL into the database file and truncates it, from a connection of its
// own, so that the file's size is the database's: the store checkpoints every 32 MiB of WAL,
// which at a test's scale is days of writes.
func checkpoint(tb testing.TB, path string) {
	db, err := sql.Open("sqlite", "file:"+path+"?_busy_timeout=10000")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var busy, logPages, done int
	if err := db.QueryRow(`PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logPages, &done); err != nil || busy != 0 {
		tb.Fatalf("checkpoint: busy=%d, %v", busy, err)
	}
}

// TestDatabaseStaysFlat is the benchmark's scenario at a test's size: with logs and runs
// kept 7 days, the database file grows by about a day's writes a day while the first week
// fills it, and once passes delete a day a day (from day 8), SQLite reuses the freed pages:
// over days 9 to 12 it grows by less than a tenth of what it grew over days 4 to 7.
func TestDatabaseStaysFlat(t *testing.T) {
	const perDay, lines = 250, 40
	kept := simulate(t, t.TempDir(), perDay, 12, lines, retention.Policy{Default: hashike.Retention{Logs: week(), Runs: week()}}, nil)
	for _, d := range kept {
		t.Logf("day %2d: %6d runs, pass deleted logs of %5d and %5d runs, %6.2f MB (WAL %5.2f MB)", d.Day, d.Runs, d.Logs, d.Deleted,
			float64(d.Bytes)/1e6, float64(d.WAL)/1e6)
	}
	if kept[7].Deleted != perDay || kept[11].Deleted != perDay || kept[6].Deleted != 0 {
		t.Fatalf("passes of days 7, 8 and 12 deleted %d, %d and %d runs; want 0, then a day's %d", kept[6].Deleted, kept[7].Deleted, kept[11].Deleted, perDay)
	}
	filling := kept[6].Bytes - kept[2].Bytes // days 4 to 7
	steady := kept[11].Bytes - kept[7].Bytes // days 9 to 12
	if filling <= 0 {
		t.Fatalf("the database did not grow while the first week filled it (%d bytes after day 3, %d after day 7)", kept[2].Bytes, kept[6].Bytes)
	}
	if steady*10 > filling {
		t.Fatalf("under 7-day retention the database grew %d bytes over days 9-12, against %d over days 4-7 without deletes", steady, filling)
	}
}

// BenchmarkRetentionWeeks simulates HASHIKE_BENCH_RUNS_PER_DAY runs a day (default 80,000,
// Cookpad's volume) for HASHIKE_BENCH_DAYS days (default 14: a week filling the retention,
// a week at steady state) with logs and runs kept 7 days, and reports the database size
// after each day's pass. `make bench-retention` runs it.
func BenchmarkRetentionWeeks(b *testing.B) {
	perDay := envInt(b, "HASHIKE_BENCH_RUNS_PER_DAY", 80_000)
	nDays := envInt(b, "HASHIKE_BENCH_DAYS", 14)
	lines := envInt(b, "HASHIKE_BENCH_LOG_LINES", 40)
	for range b.N {
		start := time.Now()
		fmt.Printf("%d runs/day, %d log lines (~%d bytes) per run, logs and runs kept 7 days\n", perDay, lines, lines*95)
		fmt.Println("| day | runs created | logs deleted (runs) | runs deleted | database file (MB) | WAL (MB) | pass time |")
		fmt.Println("|---|---|---|---|---|---|---|")
		res := simulate(b, b.TempDir(), perDay, nDays, lines, retention.Policy{Default: hashike.Retention{Logs: week(), Runs: week()}},
			func(d simDay) {
				fmt.Printf("| %d | %d | %d | %d | %.1f | %.1f | %s |\n", d.Day, d.Runs, d.Logs, d.Deleted, float64(d.Bytes)/1e6,
					float64(d.WAL)/1e6, d.PassTime.Round(time.Millisecond))
			})
		fmt.Printf("simulated in %s\n", time.Since(start).Round(time.Second))
		last := res[len(res)-1]
		b.ReportMetric(float64(last.Bytes)/1e6, "MB-last-day")
		if len(res) >= 8 {
			b.ReportMetric(float64(last.Bytes)/float64(res[7].Bytes), "last/day8")
		}
		b.ReportMetric(last.PassTime.Seconds(), "s-last-pass")
	}
}

func envInt(tb testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}
