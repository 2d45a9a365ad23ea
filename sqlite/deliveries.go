package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hashike/hashike"
	sqlite3 "modernc.org/sqlite/lib"
)

const deliveryColumns = `id, run_id, event, kind, url, secret, body, created_at, next_at, attempts,
	last_error, delivered_at, failed`

func scanDelivery(row scanner) (hashike.Delivery, error) {
	var d hashike.Delivery
	var body, createdAt, nextAt string
	var deliveredAt sql.NullString
	if err := row.Scan(&d.ID, &d.RunID, &d.Event, &d.Kind, &d.URL, &d.Secret, &body, &createdAt, &nextAt,
		&d.Attempts, &d.LastError, &deliveredAt, &d.Failed); err != nil {
		return d, err
	}
	d.Body = json.RawMessage(body)
	var err error
	if d.CreatedAt, err = parseTime(createdAt); err != nil {
		return d, fmt.Errorf("delivery %s: created_at: %w", d.ID, err)
	}
	if d.NextAt, err = parseTime(nextAt); err != nil {
		return d, fmt.Errorf("delivery %s: next_at: %w", d.ID, err)
	}
	if d.DeliveredAt, err = parseNullTime(deliveredAt); err != nil {
		return d, fmt.Errorf("delivery %s: delivered_at: %w", d.ID, err)
	}
	return d, nil
}

// AddDeliveries inserts ds in one transaction, skipping those whose ID exists. ENotFound,
// with nothing written, when a delivery's run does not exist; EInvalid for one without an ID.
func (s *Store) AddDeliveries(ctx context.Context, ds []hashike.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	const op = "add deliveries"
	type row struct {
		createdAt, nextAt string
		deliveredAt       sql.NullString
	}
	rows := make([]row, len(ds))
	for i, d := range ds {
		if d.ID == "" {
			return hashike.Errorf(hashike.EInvalid, "%s: a delivery of run %s has no ID", op, d.RunID)
		}
		var err error
		if rows[i].createdAt, err = formatTime(d.CreatedAt); err != nil {
			return err
		}
		if rows[i].nextAt, err = formatTime(d.NextAt); err != nil {
			return err
		}
		if rows[i].deliveredAt, err = nullTime(d.DeliveredAt); err != nil {
			return err
		}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return dbErr(op, err)
	}
	defer tx.Rollback()
	insert, err := tx.PrepareContext(ctx, `INSERT INTO deliveries (`+deliveryColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`)
	if err != nil {
		return dbErr(op, err)
	}
	defer insert.Close()
	for i, d := range ds {
		_, err := insert.ExecContext(ctx, d.ID, d.RunID, d.Event, d.Kind, d.URL, d.Secret, string(d.Body),
			rows[i].createdAt, rows[i].nextAt, d.Attempts, d.LastError, rows[i].deliveredAt, d.Failed)
		if constraint(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY) {
			return hashike.Errorf(hashike.ENotFound, "%s: delivery %s: no run %s", op, d.ID, d.RunID)
		}
		if err != nil {
			return dbErr(op, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return dbErr(op, err)
	}
	return nil
}

// ClaimDeliveries leases at most limit deliveries that are due (undelivered, not failed,
// NextAt <= now), by NextAt, then CreatedAt, then ID, by moving their NextAt to now+lease.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]hashike.Delivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	const op = "claim deliveries"
	at, err := formatTime(now)
	if err != nil {
		return nil, err
	}
	next := now.Add(lease)
	nextAt, err := formatTime(next)
	if err != nil {
		return nil, err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, dbErr(op, err)
	}
	defer tx.Rollback()
	// The conditions repeat deliveries_due's WHERE clause so that SQLite uses it.
	rows, err := tx.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE delivered_at IS NULL AND failed = 0 AND next_at <= ?
		ORDER BY next_at, created_at, id LIMIT ?`, at, limit)
	if err != nil {
		return nil, dbErr(op, err)
	}
	var out []hashike.Delivery
	var ids []string
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			rows.Close()
			return nil, dbErr(op, err)
		}
		d.NextAt = next
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
	if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET next_at = ? WHERE id IN (SELECT value FROM json_each(?))`,
		nextAt, string(idsJSON)); err != nil {
		return nil, dbErr(op, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, dbErr(op, err)
	}
	return out, nil
}

// UpdateDelivery writes d's Attempts, LastError, NextAt, DeliveredAt and Failed. ENotFound for
// an unknown ID.
func (s *Store) UpdateDelivery(ctx context.Context, d hashike.Delivery) error {
	op := "update delivery " + d.ID
	nextAt, err := formatTime(d.NextAt)
	if err != nil {
		return err
	}
	deliveredAt, err := nullTime(d.DeliveredAt)
	if err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, `UPDATE deliveries SET attempts = ?, last_error = ?, next_at = ?,
		delivered_at = ?, failed = ? WHERE id = ?`, d.Attempts, d.LastError, nextAt, deliveredAt, d.Failed, d.ID)
	if err != nil {
		return dbErr(op, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return dbErr(op, err)
	} else if n == 0 {
		return hashike.Errorf(hashike.ENotFound, "no delivery %s", d.ID)
	}
	return nil
}

// ListDeliveries returns the run's deliveries, by CreatedAt then ID.
func (s *Store) ListDeliveries(ctx context.Context, runID string) ([]hashike.Delivery, error) {
	op := "list deliveries of run " + runID
	rows, err := s.r.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE run_id = ?
		ORDER BY created_at, id`, runID)
	if err != nil {
		return nil, dbErr(op, err)
	}
	defer rows.Close()
	out := []hashike.Delivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, dbErr(op, err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(op, err)
	}
	return out, nil
}
