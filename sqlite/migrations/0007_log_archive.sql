-- The index of the runs' archived output (hashike.LogArchiveIndex): the segments package archive
-- wrote to the object store, and per run how far the archive reaches. Segment times are Unix
-- nanoseconds: they are only compared, never shown from here.
CREATE TABLE run_log_segments (
	run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	container   TEXT NOT NULL,
	seq         INTEGER NOT NULL,
	task_key    TEXT NOT NULL,
	service_key TEXT NOT NULL,
	first_line  INTEGER NOT NULL,
	last_line   INTEGER NOT NULL,
	first_at    INTEGER NOT NULL,
	last_at     INTEGER NOT NULL,
	lines       INTEGER NOT NULL,
	bytes       INTEGER NOT NULL,
	text_bytes  INTEGER NOT NULL,
	PRIMARY KEY (run_id, container, seq)
) STRICT;

CREATE TABLE run_log_archives (
	run_id       TEXT PRIMARY KEY NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	through      INTEGER NOT NULL,
	through_line INTEGER NOT NULL,
	complete     INTEGER NOT NULL
) STRICT;
