-- What `hashike server` keeps: the server's run fields, the queues and the runs waiting in
-- them, the job registry, leases, scheduler ticks, API tokens and the notification outbox.
-- Times are fixed-width UTC text as in 0001.

ALTER TABLE runs ADD COLUMN job TEXT NOT NULL DEFAULT '';           -- '' for a `hashike run` run
ALTER TABLE runs ADD COLUMN job_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN queue TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN not_before TEXT;
ALTER TABLE runs ADD COLUMN payload BLOB;                           -- the bytes as given
ALTER TABLE runs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN root_id TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN retry_of TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN triggered_by TEXT NOT NULL DEFAULT '';  -- Run.Trigger
ALTER TABLE runs ADD COLUMN scheduled_at TEXT;
ALTER TABLE runs ADD COLUMN settled INTEGER NOT NULL DEFAULT 0;

CREATE INDEX runs_job ON runs (job, created_at, id) WHERE job != '';
CREATE INDEX runs_queue ON runs (queue, created_at, id) WHERE queue != '';
CREATE INDEX runs_root ON runs (root_id, created_at, id) WHERE root_id != '';
-- Active runs per queue, counted against MaxConcurrency at every claim. Queries must repeat
-- the WHERE clause word for word for SQLite to use it.
CREATE INDEX runs_active ON runs (queue) WHERE state IN ('pending', 'running', 'stopping');
-- What the reconciler looks for: ended runs of registered jobs it has not acted on. Queries
-- name it (INDEXED BY): without statistics SQLite would rather read runs_state.
CREATE INDEX runs_unsettled ON runs (created_at, id)
	WHERE job != '' AND settled = 0 AND state IN ('succeeded', 'failed', 'start_failed', 'timed_out', 'canceled', 'lost');

-- The queued runs, and only them: a row is inserted with a queued run and deleted in the
-- transaction that moves the run on. seq is the run's rowid in runs, its insertion order,
-- which breaks ties between runs enqueued at the same instant.
CREATE TABLE queue_items (
	run_id      TEXT PRIMARY KEY NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	seq         INTEGER NOT NULL,
	queue       TEXT NOT NULL,
	priority    INTEGER NOT NULL,
	enqueued_at TEXT NOT NULL,                  -- the run's created_at
	not_before  TEXT NOT NULL                   -- '' when the run has none
) STRICT, WITHOUT ROWID;

-- A queue's runs in dispatch.Next's order, covering what a claim reads; its leading column
-- also lists the queues that have queued runs (one index seek per queue).
CREATE INDEX queue_items_order ON queue_items (queue, priority DESC, enqueued_at, seq, not_before);

CREATE TABLE queues (
	name            TEXT PRIMARY KEY NOT NULL,
	max_concurrency INTEGER NOT NULL,
	paused          INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE jobs (
	name       TEXT NOT NULL,
	version    INTEGER NOT NULL,                -- 1, 2, ... per name
	definition TEXT NOT NULL,                   -- job.Definition's JSON
	digest     TEXT NOT NULL,
	created_at TEXT NOT NULL,
	source     TEXT NOT NULL,
	PRIMARY KEY (name, version)
) STRICT, WITHOUT ROWID;

CREATE TABLE leases (
	name       TEXT PRIMARY KEY NOT NULL,
	holder     TEXT NOT NULL,
	expires_at TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE schedule_ticks (
	job  TEXT PRIMARY KEY NOT NULL,
	tick TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE tokens (
	id         TEXT PRIMARY KEY NOT NULL,
	name       TEXT NOT NULL,
	hash       TEXT NOT NULL UNIQUE,            -- hex SHA-256 of the secret
	scope      TEXT NOT NULL,
	created_at TEXT NOT NULL,
	revoked_at TEXT
) STRICT;

CREATE TABLE deliveries (
	id           TEXT PRIMARY KEY NOT NULL,
	run_id       TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	event        TEXT NOT NULL,
	kind         TEXT NOT NULL,
	url          TEXT NOT NULL,
	secret       TEXT NOT NULL,
	body         TEXT NOT NULL,
	created_at   TEXT NOT NULL,
	next_at      TEXT NOT NULL,
	attempts     INTEGER NOT NULL,
	last_error   TEXT NOT NULL,
	delivered_at TEXT,
	failed       INTEGER NOT NULL
) STRICT;

CREATE INDEX deliveries_run ON deliveries (run_id, created_at, id);
-- The outbox: deliveries still to be tried, by when they are due.
CREATE INDEX deliveries_due ON deliveries (next_at, created_at, id) WHERE delivered_at IS NULL AND failed = 0;
