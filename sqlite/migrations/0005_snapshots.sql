-- Documents a leader publishes for every replica to read (hashike.Snapshots), such as the
-- runner controller's last status. One row per name, replaced whole. Times as in 0001.
CREATE TABLE snapshots (
	name     TEXT PRIMARY KEY NOT NULL,
	body     BLOB NOT NULL,
	taken_at TEXT NOT NULL
) STRICT;
