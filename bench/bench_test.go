// Package bench measures hashike against `docker run` on the same engine and image, side by
// side in one benchmark, whole-process wall time. Run with `make bench`; the figures, the
// machine and the command are in docs/benchmarks.md.
package bench

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/hashike/hashike/docker/dockertest"
)

var hashikeBin string

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		os.Exit(m.Run()) // no benchmark selected: nothing to build
	}
	dir, err := os.MkdirTemp("", "hashike-bench")
	if err != nil {
		panic(err)
	}
	hashikeBin = filepath.Join(dir, "hashike")
	if out, err := exec.Command("go", "build", "-trimpath", "-o", hashikeBin, "../cmd/hashike").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build hashike: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type measured struct {
	wall   time.Duration
	maxRSS int64 // KiB
}

// timed runs a command to completion, output to stdout (a file or /dev/null).
func timed(b *testing.B, stdout *os.File, env []string, name string, args ...string) measured {
	b.Helper()
	c := exec.Command(name, args...)
	c.Stdout, c.Stderr = stdout, os.Stderr
	c.Env = append(os.Environ(), env...)
	start := time.Now()
	if err := c.Run(); err != nil {
		b.Fatalf("%s %v: %v", name, args, err)
	}
	m := measured{wall: time.Since(start)}
	if ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.maxRSS = ru.Maxrss
	}
	return m
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func job(b *testing.B, dir string, cmd string) string {
	p := filepath.Join(dir, "job.yaml")
	body := fmt.Sprintf("taskDefinition:\n  family: bench\n  memory: \"256\"\n  containerDefinitions:\n    - name: app\n      image: %s\n      command: %s\n", dockertest.Image, cmd)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkTrivialRun: `hashike run` of a job that prints one line vs `docker run --rm` of the
// same image and command. Target: median ratio <= 1.15.
func BenchmarkTrivialRun(b *testing.B) {
	dockertest.Require(b)
	dir := b.TempDir()
	jobFile := job(b, dir, `["print", "1", "hello"]`)
	env := []string{"HASHIKE_DB=" + filepath.Join(dir, "hashike.db")}
	devnull, _ := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	defer devnull.Close()
	// Warm both paths once (image cache, database creation).
	timed(b, devnull, env, hashikeBin, "run", jobFile)
	timed(b, devnull, nil, "docker", "run", "--rm", "-m", "256m", dockertest.Image, "print", "1", "hello")
	var h, d []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d = append(d, timed(b, devnull, nil, "docker", "run", "--rm", "-m", "256m", dockertest.Image, "print", "1", "hello").wall)
		h = append(h, timed(b, devnull, env, hashikeBin, "run", jobFile).wall)
	}
	b.StopTimer()
	mh, md := median(h), median(d)
	b.ReportMetric(float64(mh.Milliseconds()), "hashike-median-ms")
	b.ReportMetric(float64(md.Milliseconds()), "docker-run-median-ms")
	b.ReportMetric(float64(mh)/float64(md), "ratio")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkLogs100MB: a job writing 100 MB of log lines, `hashike run` (stored in the history,
// output to a file) vs `docker run --rm` with its output sent to a file. Targets: wall ratio
// <= 1.5; hashike's peak RSS <= 60 MB.
func BenchmarkLogs100MB(b *testing.B) {
	dockertest.Require(b)
	dir := b.TempDir()
	jobFile := job(b, dir, `["bytes", "100000000"]`)
	out, err := os.Create(filepath.Join(dir, "out"))
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	var h, d []time.Duration
	var rss int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		env := []string{"HASHIKE_DB=" + filepath.Join(dir, fmt.Sprintf("hashike-%d.db", i))}
		out.Truncate(0)
		out.Seek(0, 0)
		d = append(d, timed(b, out, nil, "docker", "run", "--rm", "-m", "256m", dockertest.Image, "bytes", "100000000").wall)
		if st, _ := out.Stat(); st.Size() < 100_000_000 {
			b.Fatalf("docker run wrote %d bytes", st.Size())
		}
		out.Truncate(0)
		out.Seek(0, 0)
		m := timed(b, out, env, hashikeBin, "run", jobFile)
		if st, _ := out.Stat(); st.Size() < 100_000_000 {
			b.Fatalf("hashike run wrote %d bytes", st.Size())
		}
		h = append(h, m.wall)
		rss = max(rss, m.maxRSS)
	}
	b.StopTimer()
	mh, md := median(h), median(d)
	b.ReportMetric(float64(mh.Milliseconds()), "hashike-median-ms")
	b.ReportMetric(float64(md.Milliseconds()), "docker-run-median-ms")
	b.ReportMetric(float64(mh)/float64(md), "ratio")
	b.ReportMetric(float64(rss)/1024, "hashike-peak-RSS-MiB")
	b.ReportMetric(0, "ns/op")
}
