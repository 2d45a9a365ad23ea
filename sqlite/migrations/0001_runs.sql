-- Runs, their state transitions and their logs.
-- Times are UTC text of fixed width (2006-01-02T15:04:05.000000000Z) so that they compare
-- and sort as text in the order of the instants they name. JSON columns hold the domain
-- types' own JSON encoding.

CREATE TABLE runs (
	id              TEXT PRIMARY KEY NOT NULL,
	family          TEXT NOT NULL,
	backend         TEXT NOT NULL,
	state           TEXT NOT NULL,
	spec            TEXT NOT NULL,              -- hashike.JobSpec
	digest          TEXT NOT NULL,
	cpu             INTEGER NOT NULL,
	memory_mib      INTEGER NOT NULL,
	idempotency_key TEXT UNIQUE,                -- NULL when the run has none
	stop_cause      TEXT NOT NULL DEFAULT '',
	exit            TEXT,                       -- hashike.ExitStatus
	task            TEXT,                       -- hashike.TaskRef
	owner           TEXT,                       -- hashike.Owner
	created_at      TEXT NOT NULL,
	started_at      TEXT,
	finished_at     TEXT
) STRICT;

CREATE INDEX runs_created_at ON runs (created_at, id);
CREATE INDEX runs_state ON runs (state, created_at);
CREATE INDEX runs_family ON runs (family, created_at);

CREATE TABLE run_transitions (
	run_id     TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	seq        INTEGER NOT NULL,                -- 1 for the creation, then in order
	from_state TEXT NOT NULL,
	to_state   TEXT NOT NULL,
	at         TEXT NOT NULL,
	reason     TEXT NOT NULL,
	PRIMARY KEY (run_id, seq)
) STRICT, WITHOUT ROWID;

-- One row per AppendLogs call: a logpack blob of entries.
CREATE TABLE run_logs (
	run_id  TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	seq     INTEGER NOT NULL,                   -- 1, 2, ...: the position ReadLogs returns
	entries INTEGER NOT NULL,
	data    BLOB NOT NULL,
	PRIMARY KEY (run_id, seq)
) STRICT;
