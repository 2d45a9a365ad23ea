-- Documents a leader publishes for every replica to read (hashike.Snapshots), such as the
-- runner controller's last status. One row per name, replaced whole. Times are timestamptz
-- plus *_ns as in 0001_runs.sql.
CREATE TABLE snapshots (
	name         text COLLATE "C" PRIMARY KEY,
	body         bytea NOT NULL,
	taken_at     timestamptz NOT NULL,
	taken_at_ns  smallint NOT NULL CHECK (taken_at_ns BETWEEN 0 AND 999)
);
