-- The objects of the object store that belong to a run (hashike.RunObjects): a payload passed
-- by reference (recorded under the first try's ID) and a result. The bytes are in the object
-- store; a row is the reference. Times are timestamptz plus *_ns as in 0001_runs.sql.
CREATE TABLE run_objects (
	run_id         text COLLATE "C" NOT NULL,
	name           text COLLATE "C" NOT NULL,    -- 'payload' or 'result'
	key            text NOT NULL DEFAULT '',     -- '' when error says why nothing was kept
	size           bigint NOT NULL DEFAULT 0,
	content_type   text NOT NULL DEFAULT '',
	error          text NOT NULL DEFAULT '',
	created_at     timestamptz NOT NULL,
	created_at_ns  smallint NOT NULL CHECK (created_at_ns BETWEEN 0 AND 999),
	PRIMARY KEY (run_id, name)
);
