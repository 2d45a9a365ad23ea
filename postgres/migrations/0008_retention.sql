-- Retention (hashike.Pruning): when a run's logs were deleted from run_logs, and the index
-- the pruner reads oldest first.

ALTER TABLE runs ADD COLUMN logs_deleted_at timestamptz;            -- NULL while run_logs holds them

-- Ended runs whose logs are still here, oldest first: what ExpiredLogs scans.
CREATE INDEX runs_logs_held ON runs (created_at, created_at_ns, id)
	WHERE logs_deleted_at IS NULL AND state IN ('succeeded', 'failed', 'start_failed', 'timed_out', 'canceled', 'lost');
