-- Runs, their state transitions and their logs.
--
-- Times: hashike keeps instants to the nanosecond, timestamptz to the microsecond. Each time
-- is a timestamptz holding the instant truncated to its microsecond (so that people and
-- tools can read and compare it as a time) plus a *_ns column with the nanoseconds below it,
-- 0 to 999; both are NULL together. Ordering by (x, x_ns) is ordering by instant.
-- JSON columns are json, not jsonb: they keep the domain types' own encoding byte for byte
-- (jsonb would refuse a \u0000 in an environment value).
-- Run IDs compare as bytes (COLLATE "C") whatever the database's locale, so that the IDs
-- starting with a prefix form one contiguous range of the primary key.

CREATE TABLE runs (
	id               text COLLATE "C" PRIMARY KEY,
	family           text NOT NULL,
	backend          text NOT NULL,
	state            text NOT NULL,
	spec             json NOT NULL,              -- hashike.JobSpec
	digest           text NOT NULL,
	cpu              bigint NOT NULL,
	memory_mib       bigint NOT NULL,
	idempotency_key  text UNIQUE,                -- NULL when the run has none
	stop_cause       text NOT NULL DEFAULT '',
	exit             json,                       -- hashike.ExitStatus
	task             json,                       -- hashike.TaskRef
	owner            json,                       -- hashike.Owner
	created_at       timestamptz NOT NULL,
	created_at_ns    smallint NOT NULL CHECK (created_at_ns BETWEEN 0 AND 999),
	started_at       timestamptz,
	started_at_ns    smallint CHECK (started_at_ns BETWEEN 0 AND 999),
	finished_at      timestamptz,
	finished_at_ns   smallint CHECK (finished_at_ns BETWEEN 0 AND 999),
	-- The position of the run's last log append: bumped, under the row's lock, by each
	-- append, so that appends get 1, 2, ... and commit in that order.
	log_seq          bigint NOT NULL DEFAULT 0,
	CHECK ((started_at IS NULL) = (started_at_ns IS NULL)),
	CHECK ((finished_at IS NULL) = (finished_at_ns IS NULL))
);

CREATE INDEX runs_created_at ON runs (created_at, created_at_ns, id);
CREATE INDEX runs_state ON runs (state, created_at, created_at_ns);
CREATE INDEX runs_family ON runs (family, created_at, created_at_ns);

CREATE TABLE run_transitions (
	run_id      text COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	seq         integer NOT NULL,               -- 1 for the creation, then in order
	from_state  text NOT NULL,
	to_state    text NOT NULL,
	at          timestamptz NOT NULL,
	at_ns       smallint NOT NULL CHECK (at_ns BETWEEN 0 AND 999),
	reason      text NOT NULL,
	PRIMARY KEY (run_id, seq)
);

-- One row per AppendLogs call: a logpack blob of entries.
CREATE TABLE run_logs (
	run_id   text COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	seq      bigint NOT NULL,                   -- 1, 2, ...: the position ReadLogs returns
	entries  integer NOT NULL,
	data     bytea NOT NULL,
	PRIMARY KEY (run_id, seq)
);

-- The blobs are zstd already: TOAST may move them out of line but need not try pglz on them.
ALTER TABLE run_logs ALTER COLUMN data SET STORAGE EXTERNAL;
