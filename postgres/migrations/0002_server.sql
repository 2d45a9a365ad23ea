-- What `hashike server` keeps beyond the run history: the server's fields of a run, the queue
-- of waiting runs, the job registry, queue settings, leases, schedule ticks, API tokens and the
-- notification outbox. Times are timestamptz plus *_ns as in 0001_runs.sql.
--
-- State names appear as literals in the partial indexes' predicates and in the queries that
-- use them: a predicate on a parameter could not be matched to a partial index.

ALTER TABLE runs
	ADD COLUMN job              text NOT NULL DEFAULT '',
	ADD COLUMN job_version      integer NOT NULL DEFAULT 0,
	ADD COLUMN queue            text NOT NULL DEFAULT '',
	ADD COLUMN priority         integer NOT NULL DEFAULT 0,
	ADD COLUMN not_before       timestamptz,
	ADD COLUMN not_before_ns    smallint,
	ADD COLUMN payload          bytea,       -- NULL when the run has none
	ADD COLUMN attempt          integer NOT NULL DEFAULT 0,
	ADD COLUMN root_id          text NOT NULL DEFAULT '',
	ADD COLUMN retry_of         text NOT NULL DEFAULT '',
	ADD COLUMN trigger          text NOT NULL DEFAULT '',
	ADD COLUMN scheduled_at     timestamptz,
	ADD COLUMN scheduled_at_ns  smallint,
	ADD COLUMN settled          boolean NOT NULL DEFAULT false;

-- No CHECK constraints on the tables every enqueue, claim and update writes (runs,
-- run_transitions, queue_items): PostgreSQL compiles each table's checks anew for every
-- statement that writes it, which took a tenth of the database's CPU in
-- BenchmarkEnqueueClaim. What they guarded (a *_ns column from 0 to 999, NULL with its
-- timestamptz and only then) holds by construction: the store writes these columns only as
-- splitTime's and nullTime's pairs. The other tables keep theirs.
ALTER TABLE runs
	DROP CONSTRAINT runs_check,
	DROP CONSTRAINT runs_check1,
	DROP CONSTRAINT runs_created_at_ns_check,
	DROP CONSTRAINT runs_started_at_ns_check,
	DROP CONSTRAINT runs_finished_at_ns_check;
ALTER TABLE run_transitions DROP CONSTRAINT run_transitions_at_ns_check;

-- Transitions are written only with their run: in the statement that inserts it, or in the
-- transaction that holds its row lock. The foreign key checked nothing more, for a lookup
-- and a row lock on runs per transition, twice per enqueued run (runs are never deleted,
-- so its ON DELETE CASCADE never fired either).
ALTER TABLE run_transitions DROP CONSTRAINT run_transitions_run_id_fkey;

-- The idempotency key's index holds only the runs that have a key: an enqueue without one,
-- and every update of its run that moves it to a new row version (any state change), would
-- otherwise add an entry for NULL. CreateRun's ON CONFLICT DO NOTHING names no conflict
-- target, so it still arbitrates on this index.
ALTER TABLE runs DROP CONSTRAINT runs_idempotency_key_key;
CREATE UNIQUE INDEX runs_idempotency_key ON runs (idempotency_key) WHERE idempotency_key IS NOT NULL;

-- ListRuns by job, queue and enqueued run; the runs of `hashike run` have none of the three.
CREATE INDEX runs_job ON runs (job, created_at, created_at_ns) WHERE job <> '';
CREATE INDEX runs_queue ON runs (queue, created_at, created_at_ns) WHERE queue <> '';
CREATE INDEX runs_root ON runs (root_id) WHERE root_id <> '';
-- The reconciler's work list: ended runs of registered jobs not yet acted on.
CREATE INDEX runs_unsettled ON runs (created_at, created_at_ns, id)
	WHERE job <> '' AND NOT settled
	AND state IN ('succeeded', 'failed', 'start_failed', 'timed_out', 'canceled', 'lost');
-- Active runs per queue, which MaxConcurrency caps.
CREATE INDEX runs_queue_active ON runs (queue)
	WHERE queue <> '' AND state IN ('pending', 'running', 'stopping');

-- The runs in StateQueued, and only those: CreateRun of a queued run inserts its item, any
-- UpdateRun moving it out of queued (ClaimRuns included) deletes it, in the same transaction.
-- It keeps the dispatcher's scan off the runs table, whose rows are wide and mostly ended.
-- seq is the insertion order, dispatch.Queued.Seq; enqueued_at is the run's CreatedAt.
-- An item is only ever written with its run, so a foreign key would check nothing, at the
-- price of a lookup and a row lock on runs in every enqueue.
CREATE TABLE queue_items (
	run_id          text COLLATE "C" PRIMARY KEY,  -- no foreign key: see above
	queue           text NOT NULL,
	priority        integer NOT NULL,
	enqueued_at     timestamptz NOT NULL,
	enqueued_at_ns  smallint NOT NULL,
	not_before      timestamptz,
	not_before_ns   smallint,
	seq             bigserial NOT NULL
);
-- A queue's runs in dispatch order (dispatch.Next: priority, then FIFO); its leading column
-- also lists the queues that have runs waiting, one index probe per queue.
CREATE INDEX queue_items_order ON queue_items (queue, priority DESC, enqueued_at, enqueued_at_ns, seq);

-- The job registry: every version of every job. definition is json, not jsonb, to keep the
-- document byte for byte (as runs.spec).
CREATE TABLE jobs (
	name           text COLLATE "C" NOT NULL,
	version        integer NOT NULL CHECK (version > 0),
	definition     json NOT NULL,
	digest         text NOT NULL,
	created_at     timestamptz NOT NULL,
	created_at_ns  smallint NOT NULL CHECK (created_at_ns BETWEEN 0 AND 999),
	source         text NOT NULL DEFAULT '',
	PRIMARY KEY (name, version)
);

-- Queues whose settings were put; a queue that is not here has no cap and is not paused.
CREATE TABLE queues (
	name             text PRIMARY KEY,
	max_concurrency  integer NOT NULL CHECK (max_concurrency >= 0),
	paused           boolean NOT NULL
);

-- Leases. A released lease's row is deleted: the lease is free, as if never taken.
CREATE TABLE leases (
	name           text PRIMARY KEY,
	holder         text NOT NULL,
	expires_at     timestamptz NOT NULL,
	expires_at_ns  smallint NOT NULL CHECK (expires_at_ns BETWEEN 0 AND 999)
);

-- The last cron tick the scheduler acted on, per job.
CREATE TABLE schedule_ticks (
	job      text PRIMARY KEY,
	tick     timestamptz NOT NULL,
	tick_ns  smallint NOT NULL CHECK (tick_ns BETWEEN 0 AND 999)
);

-- API tokens: the SHA-256 of the secret, never the secret. A revoked token stays, its hash
-- still taken.
CREATE TABLE tokens (
	id             text COLLATE "C" PRIMARY KEY,
	name           text NOT NULL,
	hash           text NOT NULL UNIQUE,
	scope          text NOT NULL,
	created_at     timestamptz NOT NULL,
	created_at_ns  smallint NOT NULL CHECK (created_at_ns BETWEEN 0 AND 999),
	revoked_at     timestamptz,
	revoked_at_ns  smallint CHECK (revoked_at_ns BETWEEN 0 AND 999),
	CHECK ((revoked_at IS NULL) = (revoked_at_ns IS NULL))
);

-- The notification outbox: deliveries of runs' events, kept until delivered or given up.
CREATE TABLE deliveries (
	id               text COLLATE "C" PRIMARY KEY,
	run_id           text COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	event            text NOT NULL,
	kind             text NOT NULL,
	url              text NOT NULL,
	secret           text NOT NULL,
	body             json,
	created_at       timestamptz NOT NULL,
	created_at_ns    smallint NOT NULL CHECK (created_at_ns BETWEEN 0 AND 999),
	next_at          timestamptz NOT NULL,
	next_at_ns       smallint NOT NULL CHECK (next_at_ns BETWEEN 0 AND 999),
	attempts         integer NOT NULL,
	last_error       text NOT NULL,
	delivered_at     timestamptz,
	delivered_at_ns  smallint CHECK (delivered_at_ns BETWEEN 0 AND 999),
	failed           boolean NOT NULL,
	CHECK ((delivered_at IS NULL) = (delivered_at_ns IS NULL))
);
CREATE INDEX deliveries_run ON deliveries (run_id, created_at, created_at_ns, id);
-- What ClaimDeliveries scans, in its order: the deliveries still to be tried, by due time.
CREATE INDEX deliveries_due ON deliveries (next_at, next_at_ns, created_at, created_at_ns, id)
	WHERE delivered_at IS NULL AND NOT failed;
