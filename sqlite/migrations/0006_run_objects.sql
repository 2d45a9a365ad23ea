-- The objects of the object store that belong to a run (hashike.RunObjects): a payload passed
-- by reference (recorded under the first try's ID) and a result. The bytes are in the object
-- store; a row is the reference. Times are fixed-width UTC text as in 0001.
CREATE TABLE run_objects (
	run_id       TEXT NOT NULL,
	name         TEXT NOT NULL,                  -- 'payload' or 'result'
	key          TEXT NOT NULL DEFAULT '',       -- '' when error says why nothing was kept
	size         INTEGER NOT NULL DEFAULT 0,
	content_type TEXT NOT NULL DEFAULT '',
	error        TEXT NOT NULL DEFAULT '',
	created_at   TEXT NOT NULL,
	PRIMARY KEY (run_id, name)
) STRICT;
