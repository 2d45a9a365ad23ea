-- The inbox of GitHub's webhook deliveries (hashike.WebhookDeliveries): a verified request's
-- body as received, until the runner controller acknowledges it. The ID is the
-- X-GitHub-Delivery header, the dedupe key. Times are timestamptz plus *_ns as in 0001_runs.sql.
CREATE TABLE github_deliveries (
	id              text COLLATE "C" PRIMARY KEY,
	event           text NOT NULL,
	body            bytea NOT NULL,
	received_at     timestamptz NOT NULL,
	received_at_ns  smallint NOT NULL CHECK (received_at_ns BETWEEN 0 AND 999),
	attempts        integer NOT NULL DEFAULT 0,
	lease_until     timestamptz,                -- NULL: never claimed
	lease_until_ns  smallint CHECK (lease_until_ns BETWEEN 0 AND 999),
	acked_at        timestamptz,
	acked_at_ns     smallint CHECK (acked_at_ns BETWEEN 0 AND 999),
	CHECK ((lease_until IS NULL) = (lease_until_ns IS NULL)),
	CHECK ((acked_at IS NULL) = (acked_at_ns IS NULL))
);
-- What ClaimWebhookDeliveries scans, in its order: the deliveries not yet acknowledged.
CREATE INDEX github_deliveries_waiting ON github_deliveries (received_at, received_at_ns, id)
	WHERE acked_at IS NULL;
-- What PruneWebhookDeliveries deletes by.
CREATE INDEX github_deliveries_received ON github_deliveries (received_at, received_at_ns);
