-- A run's resource usage summary (hashike.ResourceUsage: peak memory, CPU seconds, throttled
-- time, samples, source), recorded with its end where the backend measures it.
ALTER TABLE runs ADD COLUMN usage json; -- NULL when nothing was measured
