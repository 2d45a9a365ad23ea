-- Retention (hashike.Pruning): when a run's logs were deleted from run_logs, and the indexes
-- the pruner reads oldest first. Times are fixed-width UTC text as in 0001.

ALTER TABLE runs ADD COLUMN logs_deleted_at TEXT;                   -- NULL while run_logs holds them

-- Ended runs whose logs are still here, oldest first: what ExpiredLogs scans. Queries repeat
-- the WHERE clause word for word for SQLite to use it.
CREATE INDEX runs_logs_held ON runs (created_at, id)
	WHERE logs_deleted_at IS NULL AND state IN ('succeeded', 'failed', 'start_failed', 'timed_out', 'canceled', 'lost');
