-- The inbox of GitHub's webhook deliveries (hashike.WebhookDeliveries): a verified request's
-- body as received, until the runner controller acknowledges it. The ID is the
-- X-GitHub-Delivery header, the dedupe key. Times are fixed-width UTC text as in 0001.
CREATE TABLE github_deliveries (
	id          TEXT PRIMARY KEY NOT NULL,
	event       TEXT NOT NULL,
	body        BLOB NOT NULL,
	received_at TEXT NOT NULL,
	attempts    INTEGER NOT NULL DEFAULT 0,
	lease_until TEXT,                            -- NULL: never claimed
	acked_at    TEXT
) STRICT;

-- What ClaimWebhookDeliveries scans, in its order: the deliveries not yet acknowledged.
CREATE INDEX github_deliveries_waiting ON github_deliveries (received_at, id) WHERE acked_at IS NULL;
-- What PruneWebhookDeliveries deletes by.
CREATE INDEX github_deliveries_received ON github_deliveries (received_at);
