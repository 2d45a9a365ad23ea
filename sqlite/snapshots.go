package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/hashike/hashike"
)

// PutSnapshot stores s, replacing the snapshot of its name (see hashike.Snapshots).
func (s *Store) PutSnapshot(ctx context.Context, snap hashike.Snapshot) error {
	const op = "put snapshot"
	if snap.Name == "" {
		return hashike.Errorf(hashike.EInvalid, "%s: a snapshot needs a name", op)
	}
	if len(snap.Body) > hashike.MaxSnapshotBytes {
		return hashike.Errorf(hashike.EInvalid, "%s %s: %d bytes, over the %d a snapshot may hold", op, snap.Name, len(snap.Body), hashike.MaxSnapshotBytes)
	}
	at, err := formatTime(snap.TakenAt)
	if err != nil {
		return err
	}
	body := snap.Body
	if body == nil {
		body = []byte{}
	}
	if _, err := s.w.ExecContext(ctx, `INSERT INTO snapshots (name, body, taken_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET body = excluded.body, taken_at = excluded.taken_at`, snap.Name, body, at); err != nil {
		return dbErr(op+" "+snap.Name, err)
	}
	return nil
}

// GetSnapshot returns the named snapshot; ENotFound when none was put.
func (s *Store) GetSnapshot(ctx context.Context, name string) (hashike.Snapshot, error) {
	snap := hashike.Snapshot{Name: name}
	var at string
	err := s.r.QueryRowContext(ctx, `SELECT body, taken_at FROM snapshots WHERE name = ?`, name).Scan(&snap.Body, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return hashike.Snapshot{}, hashike.Errorf(hashike.ENotFound, "no snapshot %s", name)
	}
	if err != nil {
		return hashike.Snapshot{}, dbErr("get snapshot "+name, err)
	}
	if snap.TakenAt, err = parseTime(at); err != nil {
		return hashike.Snapshot{}, dbErr("get snapshot "+name, err)
	}
	return snap, nil
}
