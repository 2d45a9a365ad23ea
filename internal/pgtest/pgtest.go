// Package pgtest gives tests a real, throw-away PostgreSQL database.
//
// With HASHIKE_TEST_POSTGRES set to a DSN (of a role that may CREATE DATABASE, on localhost
// or a unix socket), every DSN call creates a database with a random name on that server and
// drops it when the test ends. Without it, the first DSN call of a test binary starts a
// private cluster: initdb into a new temporary directory (as the postgres user when the tests
// run as root, since initdb refuses root), then pg_ctl start listening on a free loopback
// port and on a unix socket in that directory, with durability turned off for speed (fsync,
// synchronous_commit, full_page_writes) unless MainWith asks for a durable one (benchmarks
// whose figures stand for a real server). Tests connect through the socket. Main stops the
// cluster and removes the directory when the tests are done; should the test binary die
// first (a timeout, a kill), a watchdog process that waits on a pipe from it does the same.
//
// When no server can be had, tests calling DSN fail, saying how to provide one; set
// HASHIKE_SKIP_POSTGRES=1 to skip them instead.
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		s, err := postgres.Open(ctx, pgtest.DSN(t))
//		...
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const (
	// EnvDSN names the variable holding an existing server's DSN.
	EnvDSN = "HASHIKE_TEST_POSTGRES"
	// EnvSkip names the variable that, set to 1, skips the tests that need PostgreSQL.
	EnvSkip = "HASHIKE_SKIP_POSTGRES"
)

const howTo = `The PostgreSQL tests need a PostgreSQL server. Either install PostgreSQL's server binaries
(Debian: apt-get install postgresql-15; initdb and pg_ctl are looked up in PATH and in
/usr/lib/postgresql/*/bin), or set ` + EnvDSN + ` to the DSN of a server on localhost or a unix
socket whose role may CREATE DATABASE, or set ` + EnvSkip + `=1 to skip these tests.`

// The server of this test binary: found or started by the first DSN call, stopped by Main.
var (
	mu      sync.Mutex
	options Options
	tried   bool
	srv     *server
	srvErr  error
)

// Options change the cluster that DSN starts.
type Options struct {
	// Durable keeps PostgreSQL's durability settings (fsync, synchronous_commit,
	// full_page_writes) at their defaults, on: every commit waits for its WAL flush, as on a
	// production server. Benchmarks want it; tests want speed. An external server
	// (HASHIKE_TEST_POSTGRES) keeps its own settings.
	Durable bool
}

type server struct {
	admin string   // DSN of a role that may create databases, in a database that exists
	local *cluster // the cluster started for this binary; nil for an external server
}

// Main runs the tests and then stops the cluster DSN may have started. Call it from
// TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int { return MainWith(m, Options{}) }

// MainWith is Main with a cluster made as o says.
func MainWith(m *testing.M, o Options) int {
	mu.Lock()
	options = o
	mu.Unlock()
	code := m.Run()
	mu.Lock()
	s := srv
	mu.Unlock()
	if s != nil && s.local != nil {
		if err := s.local.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stopping the test cluster: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// DSN creates an empty database for t, dropped (connections and all) when t ends, and
// returns a DSN for it.
func DSN(t testing.TB) string {
	t.Helper()
	if os.Getenv(EnvSkip) == "1" {
		t.Skipf("%s=1: skipping a test that needs PostgreSQL", EnvSkip)
	}
	s, err := get()
	if err != nil {
		t.Fatalf("pgtest: %v\n%s", err, howTo)
	}
	var b [8]byte
	rand.Read(b[:])
	name := "hashike_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	dsn, err := withDatabase(s.admin, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// Stop stops the cluster of this test binary as an operator's fast shutdown does (pg_ctl
// stop -m fast: sessions are ended, connections refused), for a test of an outage; Start
// brings it back on the same port and socket, and so does t's cleanup should the test end
// first. Every database of the binary is down meanwhile: only a test that runs alone (not
// t.Parallel) may call it. With an external server (HASHIKE_TEST_POSTGRES), which is no test's
// to stop, the test is skipped.
func Stop(t testing.TB) {
	t.Helper()
	c := local(t)
	if err := c.run("pg_ctl", "-D", c.data, "-m", "fast", "-w", "stop"); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(c.data, "postmaster.pid")); errors.Is(err, os.ErrNotExist) {
			if err := c.start(); err != nil {
				t.Errorf("pgtest: restarting the cluster: %v", err)
			}
		}
	})
}

// Start starts the cluster Stop stopped, on the same port and socket, and returns once it
// accepts connections.
func Start(t testing.TB) {
	t.Helper()
	if err := local(t).start(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// local returns the cluster this binary started, skipping t when the server is external.
func local(t testing.TB) *cluster {
	t.Helper()
	s, err := get()
	if err != nil {
		t.Fatalf("pgtest: %v\n%s", err, howTo)
	}
	if s.local == nil {
		t.Skipf("pgtest: the PostgreSQL server of %s is not this test's to stop", EnvDSN)
	}
	return s.local
}

func get() (*server, error) {
	mu.Lock()
	defer mu.Unlock()
	if !tried {
		tried = true
		srv, srvErr = find()
	}
	return srv, srvErr
}

func find() (*server, error) {
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		if err := checkLocal(dsn); err != nil {
			return nil, fmt.Errorf("%s: %w", EnvDSN, err)
		}
		s := &server{admin: dsn}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.exec(ctx, "SELECT 1"); err != nil {
			return nil, fmt.Errorf("%s: %w", EnvDSN, err)
		}
		return s, nil
	}
	c, admin, err := start(options.Durable)
	if err != nil {
		return nil, fmt.Errorf("cannot start a throw-away PostgreSQL server: %w", err)
	}
	return &server{admin: admin, local: c}, nil
}

// checkLocal refuses a DSN naming a host other than a unix socket or a loopback address:
// the tests create and drop databases, which is no business of a shared server's.
func checkLocal(dsn string) error {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return err
	}
	hosts := []string{cfg.Host}
	for _, f := range cfg.Fallbacks {
		hosts = append(hosts, f.Host)
	}
	for _, h := range hosts {
		if strings.HasPrefix(h, "/") || h == "localhost" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
			continue
		}
		return fmt.Errorf("host %q is neither a unix socket nor a loopback address; the tests only use local servers", h)
	}
	return nil
}

// exec runs one statement on the admin connection.
func (s *server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.admin)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

// withDatabase returns dsn with its database replaced by name (a plain identifier).
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", err
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	// In key=value form a later key overrides an earlier one.
	return strings.TrimSpace(dsn) + " dbname=" + name, nil
}

// cluster is a PostgreSQL cluster in a temporary directory: data/ holds the cluster, the
// socket and the server's log sit next to it.
type cluster struct {
	dir  string
	data string
	bin  string              // the directory of initdb and pg_ctl
	cred *syscall.Credential // whom to run them as; nil: as ourselves
	uid  int                 // owner of dir

	watchdog *exec.Cmd
	release  *os.File // the write end of the watchdog's stdin: closing it stops the cluster

	startOpts string // the server's options (port, socket, settings), for a restart
}

// start makes and starts a cluster and returns it with a superuser DSN through its socket.
func start(durable bool) (*cluster, string, error) {
	bin, err := findBin()
	if err != nil {
		return nil, "", err
	}
	c := &cluster{bin: bin, uid: os.Getuid()}
	gid := os.Getgid()
	if os.Geteuid() == 0 {
		// initdb and the server refuse to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, "", fmt.Errorf("running as root, and initdb refuses root: no postgres user to run it as: %w", err)
		}
		uid, err1 := strconv.Atoi(u.Uid)
		g, err2 := strconv.Atoi(u.Gid)
		if err := errors.Join(err1, err2); err != nil {
			return nil, "", fmt.Errorf("user postgres: %w", err)
		}
		c.uid, gid = uid, g
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(g)}
	}
	if c.dir, err = os.MkdirTemp("", "hashike-pgtest-"); err != nil {
		return nil, "", err
	}
	if err := os.Chown(c.dir, c.uid, gid); err != nil {
		os.RemoveAll(c.dir)
		return nil, "", err
	}
	if fi, err := os.Stat(filepath.Dir(c.dir)); err == nil && c.cred != nil && fi.Mode().Perm()&0o001 == 0 {
		os.RemoveAll(c.dir)
		return nil, "", fmt.Errorf("the postgres user cannot enter %s (set TMPDIR to a directory it can)", filepath.Dir(c.dir))
	}
	c.data = filepath.Join(c.dir, "data")

	t0 := time.Now()
	if err := c.run("initdb", "-D", c.data, "--auth=trust", "--username=postgres", "--encoding=UTF8",
		"--no-locale", "--no-sync"); err != nil {
		os.RemoveAll(c.dir)
		return nil, "", err
	}
	if err := c.startWatchdog(); err != nil {
		os.RemoveAll(c.dir)
		return nil, "", err
	}
	initdb := time.Since(t0)

	// A free port can be taken between our probe and the server's bind: try a few.
	var port int
	for attempt := 0; ; attempt++ {
		if port, err = freePort(); err != nil {
			break
		}
		opts := fmt.Sprintf("-p %d -k '%s' -c listen_addresses=127.0.0.1", port, c.dir)
		if !durable {
			opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
		}
		c.startOpts = opts
		err = c.start()
		if err == nil || attempt == 2 {
			break
		}
	}
	if err != nil {
		if log, lerr := os.ReadFile(filepath.Join(c.dir, "postgres.log")); lerr == nil {
			err = fmt.Errorf("%w\nserver log:\n%s", err, log)
		}
		c.stop()
		return nil, "", err
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "pgtest: PostgreSQL in %s on port %d (initdb %s, start %s, durable %t)\n",
			c.dir, port, initdb.Round(time.Millisecond), (time.Since(t0) - initdb).Round(time.Millisecond), durable)
	}
	return c, fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres sslmode=disable", c.dir, port), nil
}

// start starts the server with the options of c.startOpts and waits until it accepts
// connections.
func (c *cluster) start() error {
	return c.run("pg_ctl", "-D", c.data, "-l", filepath.Join(c.dir, "postgres.log"), "-w", "-t", "60", "-o", c.startOpts, "start")
}

// startWatchdog starts a process that waits for its stdin to close, which happens when this
// process closes it or dies, and then stops the cluster and removes its directory. It runs
// in its own process group, so that a Ctrl-C meant for the tests does not kill it first.
func (c *cluster) startWatchdog() error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	cmd := exec.Command("/bin/sh", "-c", `cat >/dev/null; "$0" -D "$1" -m immediate -w stop >/dev/null 2>&1; rm -rf "$2"`,
		filepath.Join(c.bin, "pg_ctl"), c.data, c.dir)
	cmd.Stdin = r
	cmd.Dir = c.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: c.cred}
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("watchdog: %w", err)
	}
	c.watchdog, c.release = cmd, w
	return nil
}

// stop stops the server at once (the data is thrown away) and removes the directory.
func (c *cluster) stop() error {
	var errs []error
	if _, err := os.Stat(filepath.Join(c.data, "postmaster.pid")); err == nil {
		if err := c.run("pg_ctl", "-D", c.data, "-m", "immediate", "-w", "stop"); err != nil {
			errs = append(errs, err)
		}
	}
	if c.release != nil {
		c.release.Close()
		done := make(chan error, 1)
		go func() { done <- c.watchdog.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				errs = append(errs, fmt.Errorf("watchdog: %w", err))
			}
		case <-time.After(time.Minute):
			errs = append(errs, errors.New("watchdog: still running after a minute"))
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// run runs one of the cluster's programs as the cluster's owner.
func (c *cluster) run(name string, args ...string) error {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir // the owner may not be able to enter ours
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// findBin returns the directory holding initdb and pg_ctl: from PATH, else the newest of
// Debian's /usr/lib/postgresql/VERSION/bin.
func findBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "pg_ctl")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
		return v
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("initdb and pg_ctl not found in PATH or /usr/lib/postgresql/*/bin")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
