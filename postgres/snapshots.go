package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hashike/hashike"
)

// PutSnapshot stores s, replacing the snapshot of its name (see hashike.Snapshots).
func (s *Store) PutSnapshot(ctx context.Context, snap hashike.Snapshot) error {
	const op = "put snapshot"
	if snap.Name == "" || !storable(snap.Name) {
		return hashike.Errorf(hashike.EInvalid, "%s: a snapshot needs a name, UTF-8 without NUL", op)
	}
	if len(snap.Body) > hashike.MaxSnapshotBytes {
		return hashike.Errorf(hashike.EInvalid, "%s %s: %d bytes, over the %d a snapshot may hold", op, snap.Name, len(snap.Body), hashike.MaxSnapshotBytes)
	}
	at, ns, err := splitTime(snap.TakenAt)
	if err != nil {
		return err
	}
	body := snap.Body
	if body == nil {
		body = []byte{}
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO snapshots (name, body, taken_at, taken_at_ns) VALUES ($1, $2, $3, $4)
		ON CONFLICT (name) DO UPDATE SET body = excluded.body, taken_at = excluded.taken_at, taken_at_ns = excluded.taken_at_ns`,
		snap.Name, body, at, ns); err != nil {
		return dbErr(op+" "+snap.Name, err)
	}
	return nil
}

// GetSnapshot returns the named snapshot; ENotFound when none was put.
func (s *Store) GetSnapshot(ctx context.Context, name string) (hashike.Snapshot, error) {
	if !storable(name) {
		return hashike.Snapshot{}, hashike.Errorf(hashike.ENotFound, "no snapshot %q", name)
	}
	snap := hashike.Snapshot{Name: name}
	var at time.Time
	var ns int16
	err := s.pool.QueryRow(ctx, `SELECT body, taken_at, taken_at_ns FROM snapshots WHERE name = $1`, name).Scan(&snap.Body, &at, &ns)
	if errors.Is(err, pgx.ErrNoRows) {
		return hashike.Snapshot{}, hashike.Errorf(hashike.ENotFound, "no snapshot %s", name)
	}
	if err != nil {
		return hashike.Snapshot{}, dbErr("get snapshot "+name, err)
	}
	snap.TakenAt = joinTime(at, ns)
	return snap, nil
}
