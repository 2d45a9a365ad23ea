package postgres

import (
	"context"
	"time"

	"github.com/hashike/hashike"
	"github.com/jackc/pgx/v5"
)

const githubDeliveryColumns = `g.id, g.event, g.body, g.received_at, g.received_at_ns, g.attempts, g.acked_at, g.acked_at_ns`

func scanGitHubDelivery(row pgx.Row) (hashike.WebhookDelivery, error) {
	var (
		d        hashike.WebhookDelivery
		received time.Time
		rNs      int16
		acked    *time.Time
		aNs      *int16
	)
	if err := row.Scan(&d.ID, &d.Event, &d.Body, &received, &rNs, &d.Attempts, &acked, &aNs); err != nil {
		return hashike.WebhookDelivery{}, err
	}
	d.ReceivedAt = joinTime(received, rNs)
	d.AckedAt = joinNullTime(acked, aNs)
	return d, nil
}

// SaveWebhookDelivery inserts d unless its ID is stored (see hashike.WebhookDeliveries):
// ON CONFLICT DO NOTHING, so concurrent saves of one ID from several replicas create it once.
func (s *Store) SaveWebhookDelivery(ctx context.Context, d hashike.WebhookDelivery) (bool, error) {
	const op = "save webhook delivery"
	if d.ID == "" || d.Event == "" {
		return false, hashike.Errorf(hashike.EInvalid, "%s: a delivery needs an ID and an event", op)
	}
	if !storable(d.ID) || !storable(d.Event) {
		return false, hashike.Errorf(hashike.EInvalid, "%s: the ID and the event must be UTF-8 without NUL", op)
	}
	received, rNs, err := splitTime(d.ReceivedAt)
	if err != nil {
		return false, err
	}
	body := d.Body
	if body == nil {
		body = []byte{}
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO github_deliveries (id, event, body, received_at, received_at_ns)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`, d.ID, d.Event, body, received, rNs)
	if err != nil {
		return false, dbErr(op+" "+d.ID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// ClaimWebhookDeliveries leases the unacknowledged deliveries whose lease is over (see
// hashike.WebhookDeliveries). Rows another replica is claiming are skipped (FOR UPDATE SKIP
// LOCKED), so each delivery goes to one claimer per lease.
func (s *Store) ClaimWebhookDeliveries(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]hashike.WebhookDelivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	nowUs, nowNs, err := splitTime(now)
	if err != nil {
		return nil, err
	}
	until, untilNs, err := splitTime(now.Add(lease))
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `WITH due AS (
			SELECT id FROM github_deliveries
			WHERE acked_at IS NULL AND (lease_until IS NULL OR (lease_until, lease_until_ns) <= ($1, $2))
			ORDER BY received_at, received_at_ns, id
			LIMIT $3
			FOR UPDATE SKIP LOCKED
		),
		leased AS (
			UPDATE github_deliveries g SET lease_until = $4, lease_until_ns = $5, attempts = g.attempts + 1
			FROM due WHERE g.id = due.id
			RETURNING `+githubDeliveryColumns+`
		)
		SELECT `+githubDeliveryColumns+` FROM leased g ORDER BY g.received_at, g.received_at_ns, g.id`,
		nowUs, nowNs, limit, until, untilNs)
	if err != nil {
		return nil, dbErr("claim webhook deliveries", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (hashike.WebhookDelivery, error) {
		return scanGitHubDelivery(row)
	})
	if err != nil {
		return nil, dbErr("claim webhook deliveries", err)
	}
	return out, nil
}

// AckWebhookDelivery sets the delivery's acked_at unless it has one. ENotFound for an
// unknown ID.
func (s *Store) AckWebhookDelivery(ctx context.Context, id string, now time.Time) error {
	if !storable(id) {
		return hashike.Errorf(hashike.ENotFound, "no webhook delivery %q", id)
	}
	at, atNs, err := splitTime(now)
	if err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE github_deliveries
		SET acked_at = COALESCE(acked_at, $2), acked_at_ns = COALESCE(acked_at_ns, $3) WHERE id = $1`, id, at, atNs)
	if err != nil {
		return dbErr("ack webhook delivery "+id, err)
	}
	if tag.RowsAffected() == 0 {
		return hashike.Errorf(hashike.ENotFound, "no webhook delivery %s", id)
	}
	return nil
}

// PruneWebhookDeliveries deletes the deliveries received before before.
func (s *Store) PruneWebhookDeliveries(ctx context.Context, before time.Time) (int, error) {
	at, atNs, err := splitTime(before)
	if err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM github_deliveries WHERE (received_at, received_at_ns) < ($1, $2)`, at, atNs)
	if err != nil {
		return 0, dbErr("prune webhook deliveries", err)
	}
	return int(tag.RowsAffected()), nil
}
