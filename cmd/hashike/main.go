// Command hashike runs containerized jobs, defined as Amazon ECS task definitions, on the
// local Docker Engine (and, later, on Amazon ECS), and keeps their history.
//
// This is the only package that reads configuration and wires adapters together.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"

	"github.com/spf13/cobra"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/ecs"
	"github.com/hashike/hashike/httpapi"
	"github.com/hashike/hashike/process"
	"github.com/hashike/hashike/runner"
	"github.com/hashike/hashike/runners"
	"github.com/hashike/hashike/secret"
	"github.com/hashike/hashike/sqlite"
)

func main() {
	if p := os.Getenv("HASHIKE_CPUPROFILE"); p != "" {
		f, _ := os.Create(p)
		pprof.StartCPUProfile(f)
		code := Main(os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
		pprof.StopCPUProfile()
		os.Exit(code)
	}
	os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv))
}

// app is one invocation: its configuration and its outputs.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)
	// server and token are --server and --token: the hashike server the client commands ask
	// (see client.go).
	server, token string
	serverSet     func() bool // --server was given, to tell --server= from no flag
	// asked is the server a command made a client of: its errors came from there.
	asked       string
	dbPath      string
	objectsPath string
	log         logFlags
	// procLog is the process's structured logger once a long-running command (server,
	// autoscaler) made it: the backends it builds log there too.
	procLog *slog.Logger
	// awsObserve, when set, is told of every attempt of every AWS call (metrics).
	awsObserve  func(service, operation, code string, throttled bool)
	secretsFile string
	// eventsQueue is the ECS events queue of runs that name none (--events-queue).
	eventsQueue string
	clock       hashike.Clock

	// pull is the local backend's pull policy (--pull; see docker.go).
	pull string
	// managedGroups are the Auto Scaling groups the config file's autoscaler owns: the ECS
	// backend does not scale them out per run (set by `hashike server --config`).
	managedGroups map[string]bool

	// Seams for tests that run `hashike server` in process; nil in production.
	// ecsConfig gives the ECS backend its clients and poll intervals instead of the SDK's
	// configuration chain (a test points them at awsfake, which is in process).
	ecsConfig func() ecs.Config
	// objectStore, when set, is the server's object store instead of the one the config
	// names (a test's S3 fake).
	objectStore func() (hashike.ObjectStore, hashike.ObjectURLs)
	// scaleAPI gives the autoscaler its ECS and Auto Scaling clients instead of the SDK's
	// (a test points them at awsfake).
	scaleAPI func() scaleAPIs
	// replica and alive replace process.Self and process.Alive as the server's run owner and
	// liveness check, so that one process can hold several replicas and let one die.
	replica *hashike.Owner
	alive   func(hashike.Owner) bool
	// runnersGitHub gives the runner controller its GitHub port instead of the github
	// adapter (a test's in-memory GitHub).
	runnersGitHub func(*RunnersConfig) (runners.GitHub, error)
	// testBackend, when set, is the server's backend of that name instead of the real one
	// (nil: the real one).
	testBackend func(name string) hashike.Backend
	// wrapStore wraps the server's store (a test freezes a dying replica's writes there).
	wrapStore func(hashike.ServerStore) hashike.ServerStore
}

// Main runs the CLI and returns the process's exit code.
func Main(args []string, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) int {
	return mainWithStdin(args, os.Stdin, stdout, stderr, lookupEnv)
}

// mainWithStdin is Main reading stdin instead of the process's standard input.
func mainWithStdin(args []string, stdin io.Reader, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, lookupEnv: lookupEnv, clock: hashike.SystemClock{}}
	root := a.rootCmd()
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(context.Background())
	if err == nil {
		return 0
	}
	code := exitCode(err)
	if code == hashike.ExitStartFailed && (a.asked != "" || cmd == nil || (cmd.Name() != "run" && cmd.Name() != "wait")) {
		// Something hashike needs did not answer (a server, a database): 125 says a task
		// never produced an exit code, which only `run` and `wait` mean (README "Exit codes").
		code = 1
	}
	if msg := a.errorText(err); msg != "" {
		fmt.Fprintf(stderr, "hashike: %s\n", msg)
	}
	return code
}

// rootCmd is the command tree of one invocation.
func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "hashike",
		Short:         "Run containerized jobs defined as Amazon ECS task definitions, locally or on ECS",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &hashike.Error{Code: hashike.EInvalid, Message: err.Error() + usageHint(c)}
	})
	root.PersistentFlags().StringVar(&a.dbPath, "db", "", "run history database (env HASHIKE_DB; default $XDG_STATE_HOME/hashike/hashike.db)")
	root.PersistentFlags().StringVar(&a.objectsPath, "objects", "", "the server's object store (log archive, payloads, results): a directory or s3://BUCKET/PREFIX (env HASHIKE_OBJECTS; overrides the config file's objectStore; default objects/ next to the server database)")
	root.PersistentFlags().StringVar(&a.secretsFile, "secrets-file", "", "local secrets file, JSON valueFrom -> value, mode 0600 (env HASHIKE_SECRETS_FILE)")
	root.PersistentFlags().StringVar(&a.server, "server", "", "a hashike server's URL: every command about runs asks it (env HASHIKE_SERVER); --server= (empty) is this machine's run history")
	a.serverSet = func() bool { return root.PersistentFlags().Changed("server") }
	root.PersistentFlags().StringVar(&a.token, "token", "", "the server's API token; prefer env HASHIKE_TOKEN (a flag shows in ps)")
	root.PersistentFlags().StringVar(&a.log.format, "log-format", "", "log records as text or json (env HASHIKE_LOG_FORMAT; default text)")
	root.PersistentFlags().StringVar(&a.log.level, "log-level", "", "least level logged: debug, info, warn or error (env HASHIKE_LOG_LEVEL; default info)")
	root.AddCommand(
		a.runCmd(), a.waitCmd(), a.logsCmd(), a.runsCmd(), a.describeCmd(), a.stopCmd(),
		a.validateCmd(), a.superviseCmd(), a.serverCmd(), a.tokenCmd(),
		a.enqueueCmd(), a.cancelCmd(), a.rerunCmd(), a.resultCmd(), a.jobsCmd(), a.schedulesCmd(), a.queuesCmd(), a.runnersCmd(), a.capacityCmd(),
		a.simCmd(), a.versionCmd(), a.autoscalerCmd(),
	)
	root.Version = buildVersion().line()
	root.SetVersionTemplate("{{.Version}}\n")
	// cobra adds these when it executes; added now, their mistakes are usage errors too.
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	usageErrors(root)
	a.completionsFor(root)
	return root
}

// exitStatusError ends the process with a code after the command printed what it had to.
type exitStatusError struct {
	code int
	msg  string
}

func (e *exitStatusError) Error() string { return e.msg }

// exitCode maps an error to the documented exit codes (README "Exit codes"). This is the only
// place that does.
func exitCode(err error) int {
	var e *exitStatusError
	if errors.As(err, &e) {
		return e.code
	}
	var ae *httpapi.AuthError
	if errors.As(err, &ae) {
		return hashike.ExitUsage // a missing, unknown or too small token: fix the invocation
	}
	switch hashike.ErrorCodeOf(err) {
	case hashike.EInvalid, hashike.ENotFound, hashike.EConflict, hashike.ETooLarge:
		return hashike.ExitUsage
	case hashike.EUnavailable:
		return hashike.ExitStartFailed
	case hashike.EInternal: // exit 1, as any other error
	}
	return 1
}

func (a *app) env(name string) string {
	v, _ := a.lookupEnv(name)
	return v
}

// database returns the path of the run history.
func (a *app) database() string {
	if a.dbPath != "" {
		return a.dbPath
	}
	if v := a.env("HASHIKE_DB"); v != "" {
		return v
	}
	dir := a.env("XDG_STATE_HOME")
	if dir == "" {
		home := a.env("HOME")
		if home == "" {
			home, _ = os.UserHomeDir()
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "hashike", "hashike.db")
}

func (a *app) secrets() string {
	if a.secretsFile != "" {
		return a.secretsFile
	}
	return a.env("HASHIKE_SECRETS_FILE")
}

func (a *app) openStore() (hashike.Store, error) {
	s, err := sqlite.Open(a.database())
	if err != nil {
		return nil, fmt.Errorf("open the run history %s: %w", a.database(), err)
	}
	return s, nil
}

// backend returns the named backend ("" is local). It contacts nothing until used.
func (a *app) backend(ctx context.Context, name string) (hashike.Backend, error) {
	switch name {
	case "", "local":
		return a.dockerBackend()
	case "ecs":
		return a.ecsBackend(ctx)
	}
	return nil, hashike.Errorf(hashike.EInvalid, "unknown backend %q (use local or ecs)", name)
}

// wire opens the store and returns a runner over it and the named backend.
func (a *app) wire(ctx context.Context, backendName string) (*runner.Runner, func(), error) {
	backend, err := a.backend(ctx, backendName)
	if err != nil {
		return nil, nil, err
	}
	return a.wireWith(backend)
}

// wireStore is wire for commands that only read the history (and start supervisors): their
// runner has no backend.
func (a *app) wireStore() (*runner.Runner, func(), error) { return a.wireWith(nil) }

func (a *app) wireWith(backend hashike.Backend) (*runner.Runner, func(), error) {
	monitor, err := a.usageMonitor(a.warn)
	if err != nil {
		return nil, nil, err
	}
	store, err := a.openStore()
	if err != nil {
		return nil, nil, err
	}
	r := &runner.Runner{
		Backend: backend, Store: store, Logs: store, Clock: a.clock,
		Self: process.Self(), Alive: process.Alive, Random: rand.Reader, Usage: monitor,
	}
	return r, func() { store.Close() }, nil
}

// wireRun reads a run and returns a runner over the backend it ran on.
func (a *app) wireRun(ctx context.Context, id string) (*hashike.Run, func(), *runner.Runner, error) {
	r, closeAll, err := a.wireStore()
	if err != nil {
		return nil, nil, nil, err
	}
	run, err := r.Store.GetRun(ctx, id)
	if err == nil {
		if o := run.Spec.ECS; o != nil && a.eventsQueue == "" {
			a.eventsQueue = o.EventsQueueURL
		}
		r.Backend, err = a.backend(ctx, run.Backend)
	}
	if err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	return run, closeAll, r, nil
}

// resolveSecrets returns the secret values the local backend injects. On ECS a valueFrom stays
// a reference that ECS resolves: hashike resolves nothing there.
func (a *app) resolveSecrets(spec *hashike.JobSpec) (map[string]string, error) {
	if spec.Backend == "ecs" {
		return nil, nil
	}
	return secret.Resolve(spec, a.lookupEnv, a.secrets())
}

func (a *app) warn(err error) { fmt.Fprintf(a.stderr, "hashike: warning: %v\n", err) }
