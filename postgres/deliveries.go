package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/hashike/hashike"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const deliveryColumns = `d.id, d.run_id, d.event, d.kind, d.url, d.secret, d.body, d.created_at, d.created_at_ns,
	d.next_at, d.next_at_ns, d.attempts, d.last_error, d.delivered_at, d.delivered_at_ns, d.failed`

func scanDelivery(row pgx.Row) (hashike.Delivery, error) {
	var (
		d             hashike.Delivery
		body          []byte
		created, next time.Time
		cNs, nNs      int16
		delivered     *time.Time
		dNs           *int16
	)
	if err := row.Scan(&d.ID, &d.RunID, &d.Event, &d.Kind, &d.URL, &d.Secret, &body, &created, &cNs,
		&next, &nNs, &d.Attempts, &d.LastError, &delivered, &dNs, &d.Failed); err != nil {
		return hashike.Delivery{}, err
	}
	if body != nil {
		d.Body = json.RawMessage(body)
	}
	d.CreatedAt = joinTime(created, cNs)
	d.NextAt = joinTime(next, nNs)
	d.DeliveredAt = joinNullTime(delivered, dNs)
	return d, nil
}

func collectDeliveries(rows pgx.Rows) ([]hashike.Delivery, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (hashike.Delivery, error) { return scanDelivery(row) })
}

// AddDeliveries inserts the deliveries in one transaction, one round trip (a batch), skipping
// those whose ID exists (ON CONFLICT DO NOTHING: their stored fields stay). A delivery of a
// run that does not exist is ENotFound (the foreign key), and then none is written.
func (s *Store) AddDeliveries(ctx context.Context, ds []hashike.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	var b pgx.Batch
	for _, d := range ds {
		if d.ID == "" {
			return hashike.Errorf(hashike.EInvalid, "add deliveries: a delivery of run %s has no ID", d.RunID)
		}
		created, cNs, err := splitTime(d.CreatedAt)
		if err != nil {
			return err
		}
		next, nNs, err := splitTime(d.NextAt)
		if err != nil {
			return err
		}
		delivered, dNs, err := nullTime(d.DeliveredAt)
		if err != nil {
			return err
		}
		b.Queue(`INSERT INTO deliveries (id, run_id, event, kind, url, secret, body, created_at, created_at_ns,
				next_at, next_at_ns, attempts, last_error, delivered_at, delivered_at_ns, failed)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
			ON CONFLICT (id) DO NOTHING`,
			d.ID, d.RunID, d.Event, d.Kind, d.URL, d.Secret, jsonText(d.Body), created, cNs,
			next, nNs, d.Attempts, d.LastError, delivered, dNs, d.Failed)
	}
	return s.inTx(ctx, "add deliveries", func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, &b).Close()
	})
}

// ClaimDeliveries leases the deliveries due at now (see hashike.ServerStore), the longest due
// first: by (NextAt, CreatedAt, ID). Rows another replica is claiming are skipped (FOR UPDATE
// SKIP LOCKED) and a row whose lease a concurrent claim just moved no longer qualifies when
// locked, so each delivery goes to one claimer per lease.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]hashike.Delivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	nowUs, nowNs, err := splitTime(now)
	if err != nil {
		return nil, err
	}
	next, nextNs, err := splitTime(now.Add(lease))
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `WITH due AS (
			SELECT id, next_at, next_at_ns, created_at, created_at_ns FROM deliveries
			WHERE delivered_at IS NULL AND NOT failed AND (next_at, next_at_ns) <= ($1, $2)
			ORDER BY next_at, next_at_ns, created_at, created_at_ns, id
			LIMIT $3
			FOR UPDATE SKIP LOCKED
		),
		leased AS (
			UPDATE deliveries d SET next_at = $4, next_at_ns = $5 FROM due WHERE d.id = due.id
			RETURNING `+deliveryColumns+`, due.next_at AS due_at, due.next_at_ns AS due_ns
		)
		SELECT `+deliveryColumns+` FROM leased d
		ORDER BY d.due_at, d.due_ns, d.created_at, d.created_at_ns, d.id`,
		nowUs, nowNs, limit, next, nextNs)
	if err != nil {
		return nil, dbErr("claim deliveries", err)
	}
	out, err := collectDeliveries(rows)
	if err != nil {
		return nil, dbErr("claim deliveries", err)
	}
	return out, nil
}

// UpdateDelivery writes an attempt's result: Attempts, LastError, NextAt, DeliveredAt and
// Failed; the other fields of d are ignored. ENotFound for an unknown ID.
func (s *Store) UpdateDelivery(ctx context.Context, d hashike.Delivery) error {
	if !storable(d.ID) {
		return hashike.Errorf(hashike.ENotFound, "no delivery %q", d.ID)
	}
	next, nNs, err := splitTime(d.NextAt)
	if err != nil {
		return err
	}
	delivered, dNs, err := nullTime(d.DeliveredAt)
	if err != nil {
		return err
	}
	var tag pgconn.CommandTag
	tag, err = s.pool.Exec(ctx, `UPDATE deliveries SET attempts = $2, last_error = $3, next_at = $4, next_at_ns = $5,
			delivered_at = $6, delivered_at_ns = $7, failed = $8
		WHERE id = $1`, d.ID, d.Attempts, d.LastError, next, nNs, delivered, dNs, d.Failed)
	if err != nil {
		return dbErr("update delivery "+d.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return hashike.Errorf(hashike.ENotFound, "no delivery %s", d.ID)
	}
	return nil
}

// ListDeliveries returns the run's deliveries by (CreatedAt, ID); none for an unknown run.
func (s *Store) ListDeliveries(ctx context.Context, runID string) ([]hashike.Delivery, error) {
	if !storable(runID) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries d WHERE d.run_id = $1
		ORDER BY d.created_at, d.created_at_ns, d.id`, runID)
	if err != nil {
		return nil, dbErr("list deliveries of run "+runID, err)
	}
	out, err := collectDeliveries(rows)
	if err != nil {
		return nil, dbErr("list deliveries of run "+runID, err)
	}
	return out, nil
}
