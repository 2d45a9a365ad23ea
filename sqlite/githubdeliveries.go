package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hashike/hashike"
)

const githubDeliveryColumns = `id, event, body, received_at, attempts, acked_at`

func scanGitHubDelivery(row scanner) (hashike.WebhookDelivery, error) {
	var d hashike.WebhookDelivery
	var receivedAt string
	var ackedAt sql.NullString
	if err := row.Scan(&d.ID, &d.Event, &d.Body, &receivedAt, &d.Attempts, &ackedAt); err != nil {
		return d, err
	}
	var err error
	if d.ReceivedAt, err = parseTime(receivedAt); err != nil {
		return d, fmt.Errorf("webhook delivery %s: received_at: %w", d.ID, err)
	}
	if d.AckedAt, err = parseNullTime(ackedAt); err != nil {
		return d, fmt.Errorf("webhook delivery %s: acked_at: %w", d.ID, err)
	}
	return d, nil
}

// SaveWebhookDelivery inserts d unless its ID is stored (see hashike.WebhookDeliveries).
func (s *Store) SaveWebhookDelivery(ctx context.Context, d hashike.WebhookDelivery) (bool, error) {
	const op = "save webhook delivery"
	if d.ID == "" || d.Event == "" {
		return false, hashike.Errorf(hashike.EInvalid, "%s: a delivery needs an ID and an event", op)
	}
	receivedAt, err := formatTime(d.ReceivedAt)
	if err != nil {
		return false, err
	}
	body := d.Body
	if body == nil {
		body = []byte{}
	}
	res, err := s.w.ExecContext(ctx, `INSERT INTO github_deliveries (id, event, body, received_at)
		VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`, d.ID, d.Event, body, receivedAt)
	if err != nil {
		return false, dbErr(op+" "+d.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, dbErr(op+" "+d.ID, err)
	}
	return n == 1, nil
}

// ClaimWebhookDeliveries leases the unacknowledged deliveries whose lease is over (see
// hashike.WebhookDeliveries), in one write transaction: the one writer connection is what
// keeps two claims apart.
func (s *Store) ClaimWebhookDeliveries(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]hashike.WebhookDelivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	const op = "claim webhook deliveries"
	at, err := formatTime(now)
	if err != nil {
		return nil, err
	}
	until, err := formatTime(now.Add(lease))
	if err != nil {
		return nil, err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, dbErr(op, err)
	}
	defer tx.Rollback()
	// acked_at IS NULL repeats github_deliveries_waiting's WHERE clause so that SQLite uses it.
	rows, err := tx.QueryContext(ctx, `SELECT `+githubDeliveryColumns+` FROM github_deliveries
		WHERE acked_at IS NULL AND (lease_until IS NULL OR lease_until <= ?)
		ORDER BY received_at, id LIMIT ?`, at, limit)
	if err != nil {
		return nil, dbErr(op, err)
	}
	var out []hashike.WebhookDelivery
	var ids []string
	for rows.Next() {
		d, err := scanGitHubDelivery(rows)
		if err != nil {
			rows.Close()
			return nil, dbErr(op, err)
		}
		d.Attempts++
		out = append(out, d)
		ids = append(ids, d.ID)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, dbErr(op, err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	idsJSON, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE github_deliveries SET lease_until = ?, attempts = attempts + 1
		WHERE id IN (SELECT value FROM json_each(?))`, until, string(idsJSON)); err != nil {
		return nil, dbErr(op, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, dbErr(op, err)
	}
	return out, nil
}

// AckWebhookDelivery sets the delivery's acked_at unless it has one. ENotFound for an
// unknown ID.
func (s *Store) AckWebhookDelivery(ctx context.Context, id string, now time.Time) error {
	op := "ack webhook delivery " + id
	at, err := formatTime(now)
	if err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, `UPDATE github_deliveries SET acked_at = COALESCE(acked_at, ?) WHERE id = ?`, at, id)
	if err != nil {
		return dbErr(op, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return dbErr(op, err)
	} else if n == 0 {
		return hashike.Errorf(hashike.ENotFound, "no webhook delivery %s", id)
	}
	return nil
}

// PruneWebhookDeliveries deletes the deliveries received before before.
func (s *Store) PruneWebhookDeliveries(ctx context.Context, before time.Time) (int, error) {
	const op = "prune webhook deliveries"
	at, err := formatTime(before)
	if err != nil {
		return 0, err
	}
	res, err := s.w.ExecContext(ctx, `DELETE FROM github_deliveries WHERE received_at < ?`, at)
	if err != nil {
		return 0, dbErr(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, dbErr(op, err)
	}
	return int(n), nil
}
