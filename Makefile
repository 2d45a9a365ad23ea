# hashike's build, test and benchmark entry points. `make test` is what CI runs (via .ci/run).
GO      ?= go
BIN     ?= bin/hashike
IMAGE   ?= hashike-testjob:latest
PKGS    := ./...

.PHONY: build demo image test test-race vet tidy-check check-imports fuzz bench schema bench-autoscaler bench-webhook bench-runners bench-ghosts

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/hashike

# The test workload image: a static Go program, FROM scratch (no registry needed).
image:
	mkdir -p bin/image
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o bin/image/testjob ./cmd/hashike-testjob
	printf 'FROM scratch\nCOPY testjob /testjob\nENTRYPOINT ["/testjob"]\n' > bin/image/Dockerfile
	docker build -q -t $(IMAGE) bin/image >/dev/null

# Builds hashike and the demo image, runs the demo job, shows its history and fails with the
# job's exit code when it did not exit 0.
demo: build image
	./$(BIN) run examples/hello.yaml; code=$$?; echo "hashike run exited $$code"; \
	./$(BIN) runs --limit 3; \
	echo "See a run's stored output with: ./$(BIN) logs RUN_ID (and ./$(BIN) describe RUN_ID)"; \
	exit $$code

# The JSON Schemas of job files (docs/schema), from the Go types; a test fails when they are stale.
schema:
	$(GO) generate ./jobfile

vet:
	$(GO) vet $(PKGS)

tidy-check:
	$(GO) mod tidy
	git diff --exit-code -- go.mod go.sum

# The domain and the pure packages must not reach Docker, SQL, AWS, HTTP or YAML.
DOMAIN_PKGS := . ./api ./runner ./usage ./process ./secret ./dispatch ./cron ./job ./server ./autoscale ./sim ./plot ./leadership ./runners ./retention
check-imports:
	@bad=$$($(GO) list -deps $(DOMAIN_PKGS) | grep -E '^(github\.com/|golang\.org/x/|modernc\.org/|gopkg\.in/|go\.opentelemetry\.io/)|^(database/sql|net/http)$$' | grep -v '^github.com/hashike/hashike' ); \
	if [ -n "$$bad" ]; then echo "domain packages import outside dependencies:"; echo "$$bad"; exit 1; fi; \
	if $(GO) list -deps ./docker | grep -q '^github.com/aws/'; then echo "docker imports the AWS SDK (ECR tokens come through docker.ECRTokens)"; exit 1; fi; \
	if $(GO) list -deps ./objectfs | grep -E '^(github\.com|golang\.org|modernc\.org)/' | grep -qv '^github.com/hashike/hashike'; then echo "objectfs imports more than the standard library"; exit 1; fi; \
	if $(GO) list -deps ./jobfile | grep -q '^github.com/aws/'; then echo "jobfile imports the AWS SDK (its AWS template functions come through jobfile.Lookups)"; exit 1; fi; \
	if $(GO) list -deps ./archive | grep -qE '^github.com/hashike/hashike/(docker|ecs|sqlite|postgres|httpapi|objectfs|objects3|server|cmd)(/|$$)'; then echo "archive imports an adapter (it speaks the ports)"; exit 1; fi; \
	if $(GO) list -deps ./ecsscale | grep -qE '^github.com/hashike/hashike/(docker|ecs|sqlite|postgres|httpapi|jobfile|logpack|notify|server|cmd)(/|$$)'; then echo "ecsscale imports another adapter"; exit 1; fi; \
	if $(GO) list -deps ./httpapi | grep -qE '^github.com/hashike/hashike/(server|cmd)(/|$$)'; then echo "httpapi imports server (it serves an api.Service)"; exit 1; fi; \
	bad=$$($(GO) list -f '{{.ImportPath}}: {{join .Imports " "}} {{join .TestImports " "}}' ./... | grep -v '^github.com/hashike/hashike/metrics:' | grep 'github.com/prometheus/' | cut -d: -f1); \
	if [ -n "$$bad" ]; then echo "only package metrics imports Prometheus's client, not:"; echo "$$bad"; exit 1; fi; \
	for p in $(DOMAIN_PKGS); do \
	  if $(GO) list -deps $$p | grep -qE '^github.com/hashike/hashike/(docker|ecs|sqlite|postgres|jobfile|logpack|httpapi|notify|cmd)'; then echo "$$p imports an adapter"; exit 1; fi; \
	done; echo "check-imports: ok"

# The lint gate (.golangci.yml): errorlint, exhaustive switches over hashike's enums, and
# depguard keeping the test kits out of production code. golangci-lint is pinned in
# tools/go.mod, apart from the product's go.mod; `go tool` builds it once into the build cache.
# Then tools/lintgate.sh checks that the gate still rejects testdata/lint/violations.
GOLANGCI_LINT ?= $(GO) tool -modfile=tools/go.mod golangci-lint
.PHONY: lint
lint:
	$(GOLANGCI_LINT) run ./...
	tools/lintgate.sh $(GOLANGCI_LINT)

test: vet check-imports lint
	$(GO) test -race -count=1 $(PKGS)

fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzLoadBytes -fuzztime=30s ./jobfile/
	$(GO) test -run='^$$' -fuzz=FuzzDecode -fuzztime=30s ./logpack/
	$(GO) test -run='^$$' -fuzz=FuzzLine -fuzztime=30s ./archive/
	$(GO) test -run='^$$' -fuzz=FuzzDockerConfig -fuzztime=30s ./docker/
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=30s ./cron/
	$(GO) test -run='^$$' -fuzz=FuzzMatchGlob -fuzztime=30s ./dispatch/
	$(GO) test -run='^$$' -fuzz=FuzzParseEvent -fuzztime=30s ./ecs/
	$(GO) test -run='^$$' -fuzz=FuzzParseEvent -fuzztime=30s ./ecsscale/
	$(GO) test -run='^$$' -fuzz=FuzzParseWorkflowJob -fuzztime=30s ./github/
	$(GO) test -run='^$$' -fuzz=FuzzDecodeJITConfig -fuzztime=30s ./internal/githubfake/
	$(GO) test -run='^$$' -fuzz=FuzzGHRunnerConfig -fuzztime=30s ./cmd/hashike-testjob/
	$(GO) test -run='^$$' -fuzz=FuzzLoadDefinition -fuzztime=30s ./jobfile/
	$(GO) test -run='^$$' -fuzz=FuzzScanLimits -fuzztime=30s ./jobfile/
	$(GO) test -run='^$$' -fuzz=FuzzParseDuration -fuzztime=30s .
	$(GO) test -run='^$$' -fuzz=FuzzTFStateLookup -fuzztime=30s ./jobfile/
	$(GO) test -run='^$$' -fuzz=FuzzVerify -fuzztime=30s ./notify/
	$(GO) test -run='^$$' -fuzz=FuzzDecodeEnqueue -fuzztime=30s ./httpapi/
	$(GO) test -run='^$$' -fuzz=FuzzDecodeQueue -fuzztime=30s ./httpapi/
	$(GO) test -run='^$$' -fuzz=FuzzDecodeToken -fuzztime=30s ./httpapi/
	$(GO) test -run='^$$' -fuzz=FuzzParseRunQuery -fuzztime=30s ./httpapi/
	$(GO) test -run='^$$' -fuzz=FuzzParseRunsQuery -fuzztime=30s ./console/
	$(GO) test -run='^$$' -fuzz=FuzzRequestID -fuzztime=30s ./httpapi/
	$(GO) test -run='^$$' -fuzz=FuzzParseCluster -fuzztime=30s ./sim/
	$(GO) test -run='^$$' -fuzz=FuzzReadTrace -fuzztime=30s ./sim/
	$(GO) test -run='^$$' -fuzz=FuzzDecide -fuzztime=30s ./runners/

# ./bench/: hashike vs docker run (needs a Docker Engine); ./bench/server/: the server's control
# plane on SQLite and PostgreSQL (needs PostgreSQL's binaries; see internal/pgtest).
# The web console's runs page over a million runs, SQLite and PostgreSQL (docs/benchmarks.md).
.PHONY: bench-console
bench-console:
	$(GO) test -run='^$$' -bench=BenchmarkConsoleRunsPage -benchtime=200x -count=1 -timeout=60m ./bench/server/

# Screenshots of the web console (docs/console/*.png, shown in the README), taken by the
# browser test in headless Chromium against a real server on the Docker Engine.
.PHONY: screenshots
screenshots:
	mkdir -p docs/console
	$(GO) test -count=1 -run='^(TestConsoleInBrowser|TestConsolePagesInBrowser)$$' ./cmd/hashike/ -console-screenshots=$(CURDIR)/docs/console

bench:
	$(GO) test -run='^$$' -bench=. -benchtime=5x -count=1 ./bench/
	$(GO) test -run='^$$' -bench=. -benchtime=5s -count=1 -timeout=30m ./bench/server/
	$(GO) test -run='^$$' -bench=BenchmarkDay -benchtime=2x -count=1 ./sim/
	$(GO) test -run='^$$' -bench=. -benchtime=20x -count=1 ./runners/

# `hashike logs search` over 1 GB of archived log text on the local filesystem, next to
# `zstdcat | grep` over the same segments (docs/benchmarks.md). The archive is made once by
# bench/loggen into LOGBENCH and kept between calls.
LOGBENCH ?= /tmp/hashike-logbench
.PHONY: bench-logs
bench-logs: build
	test -f $(LOGBENCH)/done || ($(GO) run ./bench/loggen -dir $(LOGBENCH) -bytes 1000000000 && touch $(LOGBENCH)/done)
	farm-bench -n 5 --timeout 900 --vs "sh -c 'find $(LOGBENCH)/zst -name *.zst | xargs zstdcat | grep -E \"ERROR .*timed out\" | wc -l'" -- \
		./$(BIN) logs search --server= --db $(LOGBENCH)/server.db --objects $(LOGBENCH)/objects 'ERROR .*timed out'
	farm-bench -n 5 --timeout 900 --vs "sh -c 'find $(LOGBENCH)/zst -name *.zst | xargs zstdcat | grep -iE \"error .*timed out\" | wc -l'" -- \
		./$(BIN) logs search --server= --db $(LOGBENCH)/server.db --objects $(LOGBENCH)/objects '(?i)error .*timed out'
# The /metrics scrape of a server holding 1M runs in 100 queues, on SQLite and PostgreSQL
# (docs/benchmarks.md); most of its time is filling the two databases.
.PHONY: bench-metrics
bench-metrics:
	$(GO) test -run='^$$' -bench=BenchmarkMetricsScrape -benchtime=20x -count=1 -timeout=30m ./bench/server/

# GitHub's webhook request path (docs/github-webhook.md): the server's part, the whole HTTP
# handler (both on SQLite) and the durable write on PostgreSQL, each with its p99.
bench-webhook:
	$(GO) test -run='^$$' -bench=BenchmarkReceiveGitHubWebhook -benchtime=5000x -count=3 ./server/
	$(GO) test -run='^$$' -bench=BenchmarkGitHubDemandBurst500 -benchtime=10x -count=3 ./server/
	$(GO) test -run='^$$' -bench='BenchmarkGitHubWebhook$$' -benchtime=5000x -count=3 ./httpapi/
	$(GO) test -run='^$$' -bench=BenchmarkSaveWebhookDelivery -benchtime=5000x -count=3 ./postgres/

# The runner pools in hashike server (docs/runners.md): webhook -> runner container requested,
# and a burst of 500 queued jobs, on SQLite, the fake backend and an in-memory GitHub.
bench-runners:
	$(GO) test -run='^$$' -bench=BenchmarkWebhookToRunnerRequested -benchtime=20x -count=3 ./server/
	$(GO) test -run='^$$' -bench=BenchmarkBurst500ToRunnersRequested -benchtime=20x -count=3 ./server/

# 0 ghost runners after 1,000 randomised crash and lost-webhook scenarios, each against a
# fresh fake GitHub over HTTP through the real github adapter (docs/benchmarks.md).
bench-ghosts:
	$(GO) test -run='^TestNoGhostsOnFakeGitHub$$' -count=1 -v -timeout=30m ./github/ -args -ghost-scenarios=1000

# The live autoscaler's targets on the stateful AWS fake (docs/autoscaler.md): queued run to
# SetDesiredCapacity latency, API calls at 200 instances, 1,000 random scale-ins, the replay.
bench-autoscaler:
	$(GO) test -run='^$$' -bench=BenchmarkQueuedToSetDesiredCapacity -benchtime=60x -count=1 ./ecsscale/
	$(GO) test -count=1 -v -run='^(TestAPICallsAt200Instances|TestScaleInNeverStopsARunningTask|TestLiveDecisionsReplayInTheSimulator)$$' ./ecsscale/

# The database under retention (docs/benchmarks.md "Retention"): 14 simulated days of 80,000
# runs a day on SQLite with logs and runs kept 7 days; the database file's size after each
# day's pass. HASHIKE_BENCH_RUNS_PER_DAY and HASHIKE_BENCH_DAYS scale it.
.PHONY: bench-retention
bench-retention:
	$(GO) test -run='^$$' -bench=BenchmarkRetentionWeeks -benchtime=1x -count=1 -timeout=3h ./retention/
