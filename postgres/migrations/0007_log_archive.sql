-- The index of the runs' archived output (hashike.LogArchiveIndex): the segments package archive
-- wrote to the object store, and per run how far the archive reaches. Segment times are Unix
-- nanoseconds: they are only compared, never shown from here.
CREATE TABLE run_log_segments (
	run_id      text COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	container   text COLLATE "C" NOT NULL,
	seq         bigint NOT NULL,
	task_key    text COLLATE "C" NOT NULL,
	service_key text NOT NULL,
	first_line  bigint NOT NULL,
	last_line   bigint NOT NULL,
	first_at    bigint NOT NULL,
	last_at     bigint NOT NULL,
	lines       bigint NOT NULL,
	bytes       bigint NOT NULL,
	text_bytes  bigint NOT NULL,
	PRIMARY KEY (run_id, container, seq)
);

CREATE TABLE run_log_archives (
	run_id       text COLLATE "C" PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
	through      bigint NOT NULL,
	through_line bigint NOT NULL,
	complete     boolean NOT NULL
);
