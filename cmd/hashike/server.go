package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/archive"
	"github.com/hashike/hashike/console"
	"github.com/hashike/hashike/ecsscale"
	"github.com/hashike/hashike/github"
	"github.com/hashike/hashike/httpapi"
	"github.com/hashike/hashike/job"
	"github.com/hashike/hashike/jobfile"
	"github.com/hashike/hashike/metrics"
	"github.com/hashike/hashike/notify"
	"github.com/hashike/hashike/postgres"
	"github.com/hashike/hashike/process"
	"github.com/hashike/hashike/runners"
	"github.com/hashike/hashike/secret"
	"github.com/hashike/hashike/server"
	"github.com/hashike/hashike/sqlite"
)

// DefaultListen is where `hashike server` listens unless told otherwise: loopback only.
const DefaultListen = "127.0.0.1:8080"

// EnvGitHubWebhookSecret names the variable holding the secret of GitHub's workflow_job
// webhook; unset, the server has no webhook endpoint.
const EnvGitHubWebhookSecret = "HASHIKE_GITHUB_WEBHOOK_SECRET"

type serverFlags struct {
	config          string
	listen          string
	jobs            string
	noAuth          bool
	maxPayload      int
	maxRuns         int
	shutdownTimeout time.Duration
	jsonnet         jsonnetFlags
	archive         archiveFlags
}

// archiveFlags tune the log archive.
type archiveFlags struct {
	interval     time.Duration
	rollEvery    time.Duration
	segmentBytes int
}

func (a *app) serverCmd() *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Serve the HTTP API and run the job queue, retries and cron schedules",
		Example: `  hashike server --jobs ./jobs --no-auth
  hashike server --db postgres://hashike@db/hashike --listen 0.0.0.0:8080 --jobs /etc/hashike/jobs
  hashike server --jobs ./jobs --log-format json --log-level debug`,
		Long: `Serve hashike's HTTP API (see /v1/openapi.json) and run the dispatcher, the scheduler
and the reconciler.

The database is SQLite by default ($XDG_STATE_HOME/hashike/server.db; one replica) or
PostgreSQL with --db postgres://... (any number of replicas: every replica dispatches,
one elected leader runs the scheduler and the reconciler).

Job definitions in --jobs DIR (*.yaml, *.yml, *.json; the job's name is the file's name)
are registered at start; a changed file becomes the job's next version.

Every /v1 request needs a bearer token (hashike token create). --no-auth turns that off for
a server that listens on loopback only.

With HASHIKE_GITHUB_WEBHOOK_SECRET set, POST /v1/github/webhook receives GitHub's
workflow_job webhook (signed with that secret; no bearer token): each delivery is stored,
deduplicated by its X-GitHub-Delivery ID, and answered at once.

--config FILE (env HASHIKE_CONFIG) is hashike's config file: with an autoscaler section,
the leader also runs the cluster autoscaler over the groups it lists, with hashike's queue
as demand (README "Autoscaling a cluster"); the ECS backend then leaves those groups to it.
With a runners section, the leader runs the GitHub Actions runner controller over its pools
(docs/runners.md). Its objectStore section says where payloads passed by reference, scripts
and runs' results are kept (default: objects/ beside the SQLite database; S3 for replicas on
several hosts and for payloads on ECS), its payloads section how (README "Payloads and
results").

GET /metrics serves Prometheus metrics (no token, as /healthz; README "Metrics and
dashboard"). --log-format json and --log-level set its log records; every API request's
record has its X-Request-Id.

With a retention section (and with jobs that have a retention of their own), the leader
deletes the logs and runs past their retention every interval (README "Retention").

SIGTERM or SIGINT stops it gracefully: it stops taking requests and claiming runs, and
leaves running tasks running; the next server (or replica) adopts them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return a.serve(cmd.Context(), f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "the config file (env HASHIKE_CONFIG): its autoscaler and runners sections run on the leader")
	fl.StringVar(&f.listen, "listen", "", "address to serve on (env HASHIKE_LISTEN; default "+DefaultListen+")")
	fl.StringVar(&f.jobs, "jobs", "", "directory of job definitions to register at start (env HASHIKE_JOBS)")
	fl.BoolVar(&f.noAuth, "no-auth", false, "serve without tokens (only on a loopback address)")
	fl.IntVar(&f.maxPayload, "max-payload", server.DefaultMaxPayloadBytes, "largest enqueue payload in bytes (above 131055 payloads over payloads.inlineBytes travel by reference, through the object store; at most 64 MiB)")
	fl.IntVar(&f.maxRuns, "max-concurrent-runs", server.DefaultMaxConcurrentRuns, "runs this replica supervises at once")
	fl.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long a graceful shutdown waits")
	fl.DurationVar(&f.archive.interval, "archive-interval", 2*time.Second, "how often the log archiver looks for ended runs to archive")
	fl.DurationVar(&f.archive.rollEvery, "archive-roll-every", 5*time.Minute, "how often running runs' output is archived as rolling segments (0: only at the end)")
	fl.IntVar(&f.archive.segmentBytes, "archive-segment-bytes", archive.DefaultSegmentBytes, "largest archived log segment, in bytes of JSON lines before compression")
	f.jsonnet.add(fl)
	return cmd
}

// serverDatabase is the server's database: --db or HASHIKE_DB, else server.db next to the
// run history of `hashike run`.
func (a *app) serverDatabase() string {
	if a.dbPath != "" {
		return a.dbPath
	}
	if v := a.env("HASHIKE_DB"); v != "" {
		return v
	}
	return filepath.Join(filepath.Dir(a.database()), "server.db")
}

// isPostgres tells a PostgreSQL connection string (a URL, or libpq's key=value form starting
// with host= or dbname=) from a SQLite file path.
func isPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://") ||
		strings.HasPrefix(db, "host=") || strings.HasPrefix(db, "dbname=")
}

func (a *app) openServerStore(ctx context.Context) (hashike.ServerStore, error) {
	db := a.serverDatabase()
	if isPostgres(db) {
		s, err := postgres.Open(ctx, db)
		if err != nil {
			return nil, fmt.Errorf("open the server database: %w", err)
		}
		return s, nil
	}
	s, err := sqlite.Open(db)
	if err != nil {
		return nil, fmt.Errorf("open the server database %s: %w", db, err)
	}
	return s, nil
}

func (a *app) serve(ctx context.Context, f serverFlags) error {
	logger, err := a.logger()
	if err != nil {
		return err
	}
	// A record logged with a request's context says its ID, whichever package logs it.
	logger = slog.New(httpapi.LogRequestIDs(logger.Handler()))
	a.procLog = logger
	conf, err := a.readConfig(f.config)
	if err != nil {
		return err
	}
	if conf.Autoscaler != nil {
		a.managedGroups = conf.Autoscaler.ManagedGroups()
	}
	listen := f.listen
	if listen == "" {
		listen = a.env("HASHIKE_LISTEN")
	}
	if listen == "" {
		listen = DefaultListen
	}
	if _, _, err := net.SplitHostPort(listen); err != nil {
		return &hashike.Error{Code: hashike.EInvalid, Message: "invalid flags", Fields: []hashike.FieldError{{Path: "--listen", Severity: hashike.SeverityError, Message: fmt.Sprintf("%q is not HOST:PORT: %v", listen, err)}}}
	}
	if f.noAuth && !loopback(listen) {
		return hashike.Errorf(hashike.EInvalid, "--no-auth needs a loopback --listen address (127.0.0.1, ::1, localhost), not %q", listen)
	}
	jobsDir := f.jobs
	if jobsDir == "" {
		jobsDir = a.env("HASHIKE_JOBS")
	}
	var defs map[string]*jobfile.Definition
	if jobsDir != "" {
		var err error
		if defs, err = a.loadJobDir(ctx, jobsDir, f.jsonnet); err != nil {
			return err
		}
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if db := a.serverDatabase(); !isPostgres(db) && a.replica == nil { // in-process test replicas share one file on purpose
		unlock, err := lockSQLite(db, listen)
		if err != nil {
			return err
		}
		defer unlock()
	}
	store, err := a.openServerStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	var srvStore hashike.ServerStore = store
	if a.wrapStore != nil {
		srvStore = a.wrapStore(store)
	}
	self, alive := process.Self(), process.Alive
	if a.replica != nil {
		self, alive = *a.replica, a.alive
	}

	// One registry for the whole process, never Prometheus's global one (package metrics).
	reg := metrics.NewRegistry()
	serverMetrics := metrics.NewServer(reg)
	a.awsObserve = metrics.NewAWS(reg).ObserveAttempt
	var scalers []server.Autoscaler
	interrupter := &serverInterrupter{}
	if as := conf.Autoscaler; as != nil {
		demand := func(cluster string) ecsscale.Queue {
			return server.Demand{Store: srvStore, Cluster: cluster, Clock: a.clock}
		}
		if scalers, err = a.autoscalers(ctx, as, autoscalerOpts{queue: demand, interrupter: interrupter, dryRun: as.DryRun, log: logger}); err != nil {
			return err
		}
	}
	objects, objectURLs, err := a.serverObjects(ctx, conf.ObjectStore)
	if err != nil {
		return fmt.Errorf("object store: %w", err)
	}
	backends := &backendCache{a: a, ctx: ctx, byName: map[string]hashike.Backend{}, metrics: metrics.NewBackend(reg)}
	sender := notify.NewSender(nil, a.secretValue, a.clock)
	// GitHub's webhook secret comes from the environment only: it is a secret, not config.
	var githubWebhook server.GitHubWebhook
	if secret := a.env(EnvGitHubWebhookSecret); secret != "" {
		githubWebhook = github.NewWebhook([]byte(secret))
	}
	var runnerPools *server.RunnerPools
	if rc := conf.Runners; rc != nil {
		newGitHub := a.runnersGitHub
		if newGitHub == nil {
			newGitHub = a.githubPort
		}
		gh, err := newGitHub(rc)
		if err != nil {
			return fmt.Errorf("runners: github: %w", err)
		}
		var ss runners.ScaleSets
		if rc.ScaleSetMode() {
			if ss, err = a.scaleSetPort(rc); err != nil {
				return fmt.Errorf("runners: github: %w", err)
			}
		}
		runnerPools = rc.ServerPools(gh, ss)
		var rateLimit func() (int, bool)
		if port, ok := gh.(*github.RunnerPort); ok {
			rateLimit = func() (int, bool) { rl := port.Client.RateLimit(); return rl.Remaining, rl.Known }
		}
		runnerPools.Observer = metrics.NewRunners(reg, rc.Plan(), rateLimit)
	}
	monitor, err := a.usageMonitor(logUsageWarning(logger))
	if err != nil {
		return err
	}
	if monitor != nil {
		metrics.NewTasks(reg, monitor)
	}
	archived, err := a.logArchive(store, srvStore, objects, f.archive, logger)
	if err != nil {
		return err
	}
	pruner, err := a.pruner(store, conf.Retention, logger, objects, &archived)
	if err != nil {
		return err
	}
	srv, err := server.New(server.Config{
		Logs: archived.logs, LogSearch: archived.search, LeaderLoops: archived.loops,
		Pruner: pruner, Retention: conf.Retention.Default(), PruneInterval: conf.Retention.PruneInterval(),
		Usage: monitor, Store: srvStore, Backend: backends.get, Clock: a.clock, Logger: logger, Random: rand.Reader,
		Self: self, Alive: alive,
		ParseDefinition: func(name string, doc []byte) (*job.Definition, error) {
			d, err := jobfile.LoadDefinition("request", doc, jobfile.DefinitionOptions{Family: name})
			if err != nil {
				return nil, err
			}
			return &d.Job, nil
		},
		Secrets: a.resolveSecrets, Secret: a.secretValue,
		Deliver: sender.Send, Permanent: notify.Permanent,
		RetryAfter:      notify.RetryAfter,
		MaxPayloadBytes: f.maxPayload, MaxConcurrentRuns: f.maxRuns,
		Objects: objects, ObjectURLs: objectURLs, InlinePayloadBytes: conf.Payloads.InlineBytes,
		MaxResultBytes: conf.Payloads.MaxResultBytes, URLMargin: time.Duration(conf.Payloads.URLMargin),
		Autoscalers: scalers, GitHubWebhook: githubWebhook, Runners: runnerPools,
		Metrics: serverMetrics,
	})
	if err != nil {
		return err
	}
	serverMetrics.Watch(srv, 0)
	interrupter.srv = srv
	names := make([]string, 0, len(defs))
	for name := range defs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		source := "dir:" + jobsDir
		v, created, err := srv.Register(ctx, name, &defs[name].Job, source)
		if err != nil {
			return fmt.Errorf("register job %s from %s: %w", name, jobsDir, err)
		}
		if created {
			logger.Info("registered job", "job", name, "version", v.Version, "source", source)
		}
	}

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		// Not a usage error: the address is right, something else holds it (exit 1).
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	ui, err := a.console(srv, f.noAuth, logger)
	if err != nil {
		return err
	}
	httpSrv := httpapi.NewServer(listen, srv, httpapi.Options{NoAuth: f.noAuth, Logger: logger,
		Mount: map[string]http.Handler{console.Prefix: ui}})
	httpSrv.Handler = metrics.Mount(httpSrv.Handler, reg)
	srv.Start(ctx)
	served := make(chan error, 1)
	go func() { served <- httpSrv.Serve(ln) }()
	fmt.Fprintf(a.stdout, "hashike server listening on http://%s (database %s)\n", ln.Addr(), redactDSN(a.serverDatabase()))

	select {
	case <-ctx.Done():
	case err = <-served:
		stop()
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.shutdownTimeout)
	defer cancel()
	err = errors.Join(err, ignoreClosed(httpSrv.Shutdown(sctx)), srv.Shutdown(sctx))
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redactDSN hides a PostgreSQL password in what is printed.
func redactDSN(db string) string {
	if !isPostgres(db) {
		return db
	}
	if !strings.Contains(db, "://") {
		var parts []string
		for _, kv := range strings.Fields(db) {
			if strings.HasPrefix(kv, "password=") {
				kv = "password=***"
			}
			parts = append(parts, kv)
		}
		return strings.Join(parts, " ")
	}
	scheme, rest, _ := strings.Cut(db, "://")
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if user, _, ok := strings.Cut(rest[:at], ":"); ok {
			return scheme + "://" + user + ":***" + rest[at:]
		}
	}
	return db
}

// secretValue resolves one server secret (a webhook's signing key) by name: from
// HASHIKE_SECRET_<name>, else the secrets file's key <name>. It is a job secret whose name
// and valueFrom are both name, so that secret.Resolve looks it up under the names the
// README documents and returns it under name.
func (a *app) secretValue(name string) (string, error) {
	spec := &hashike.JobSpec{TaskDefinition: hashike.TaskDefinition{ContainerDefinitions: []hashike.ContainerDefinition{{
		Name: "x", Secrets: []hashike.Secret{{Name: name, ValueFrom: name}}}}}}
	vals, err := secret.Resolve(spec, a.lookupEnv, a.secrets())
	if err != nil {
		return "", err
	}
	return vals[name], nil
}

// backendCache makes each backend once, on first use, decorated with metrics (nil: none).
type backendCache struct {
	a       *app
	ctx     context.Context
	mu      sync.Mutex
	byName  map[string]hashike.Backend
	metrics *metrics.Backend
}

func (c *backendCache) get(name string) (hashike.Backend, error) {
	if name == "" {
		name = "local"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.byName[name]; ok {
		return b, nil
	}
	var b hashike.Backend
	if c.a.testBackend != nil {
		b = c.a.testBackend(name)
	}
	if b == nil {
		var err error
		if b, err = c.a.backend(c.ctx, name); err != nil {
			return nil, err
		}
	}
	b = metrics.DecorateBackend(b, c.metrics)
	c.byName[name] = b
	return b, nil
}

func (a *app) tokenCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Create, list and revoke the server's API tokens"}
	var name, scope, output string
	create := &cobra.Command{
		Use:     "create --name NAME --scope read|submit|admin",
		Short:   "Create an API token and print its secret (shown once; only its hash is stored)",
		Example: `  hashike token create --name ci --scope submit`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var t api.CreatedToken
			err := a.withOfflineServer(cmd.Context(), func(ctx context.Context, srv *server.Server) (err error) {
				t, err = srv.CreateToken(ctx, name, hashike.Scope(scope))
				return err
			})
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(a.stdout, t)
			}
			fmt.Fprintln(a.stdout, t.Secret)
			fmt.Fprintf(a.stderr, "token %s (%s, scope %s) created; export HASHIKE_TOKEN=<the line above>\n", t.ID, t.Name, t.Scope)
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "", "what the token is for (required)")
	create.Flags().StringVar(&scope, "scope", string(hashike.ScopeSubmit), "read, submit or admin")
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the tokens (never their secrets)",
		Example: `  hashike token list`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var ts []hashike.Token
			err := a.withOfflineServer(cmd.Context(), func(ctx context.Context, srv *server.Server) (err error) {
				ts, err = srv.ListTokens(ctx)
				return err
			})
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(a.stdout, ts)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tSCOPE\tCREATED\tREVOKED")
			for _, t := range ts {
				revoked := "-"
				if t.RevokedAt != nil {
					revoked = t.RevokedAt.Local().Format(time.DateTime)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Scope, t.CreatedAt.Local().Format(time.DateTime), revoked)
			}
			return tw.Flush()
		},
	}
	revoke := &cobra.Command{
		Use:     "revoke ID",
		Short:   "Revoke a token",
		Example: `  hashike token revoke tok_01JD3K`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			err := a.withOfflineServer(cmd.Context(), func(ctx context.Context, srv *server.Server) error {
				return srv.RevokeToken(ctx, args[0])
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "token %s revoked\n", args[0])
			return nil
		},
	}
	for _, c := range []*cobra.Command{create, list, revoke} {
		c.Flags().StringVarP(&output, "output", "o", "", "output format: json")
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// withOfflineServer calls fn with a Server over the server's database that runs no loops:
// for the commands that work on the database directly (tokens). The database is closed after.
func (a *app) withOfflineServer(ctx context.Context, fn func(context.Context, *server.Server) error) error {
	store, err := a.openServerStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	srv, err := server.New(server.Config{
		Store: store, Clock: a.clock, Random: rand.Reader, Self: process.Self(), Alive: process.Alive,
		Backend:         func(string) (hashike.Backend, error) { return nil, errors.New("no backend here") },
		ParseDefinition: func(string, []byte) (*job.Definition, error) { return nil, errors.New("no parsing here") },
	})
	if err != nil {
		return err
	}
	return fn(ctx, srv)
}

// EnvConsoleKey holds the web console's session key: 32 bytes, hex or base64. Replicas behind
// one address share it; unset, each process draws its own (a login then lasts until the
// replica restarts, and only on that replica).
const EnvConsoleKey = "HASHIKE_CONSOLE_KEY"

// console builds the web console over srv, served under /ui/ on the API's listener.
func (a *app) console(srv *server.Server, noAuth bool, logger *slog.Logger) (*console.Console, error) {
	var key []byte
	if v := a.env(EnvConsoleKey); v != "" {
		var err error
		if key, err = decodeKey(v); err != nil {
			return nil, &hashike.Error{Code: hashike.EInvalid, Message: "invalid environment", Fields: []hashike.FieldError{
				{Path: EnvConsoleKey, Severity: hashike.SeverityError, Message: err.Error()}}}
		}
	}
	return console.New(srv, console.Options{NoAuth: noAuth, Key: key, Logger: logger.With("component", "console")})
}

// decodeKey reads a 32-byte key written as hex or base64.
func decodeKey(v string) ([]byte, error) {
	v = strings.TrimSpace(v)
	if b, err := hex.DecodeString(v); err == nil && len(b) == 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, errors.New("want 32 bytes as 64 hex digits or base64 (openssl rand -hex 32 makes one)")
}
