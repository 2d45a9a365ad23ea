package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/hashike/hashike"
	"github.com/jackc/pgx/v5"
)

// PutRunObject records o, replacing the run's object of that name (see hashike.RunObjects).
func (s *Store) PutRunObject(ctx context.Context, o hashike.RunObject) error {
	if err := hashike.ValidateRunObject(o); err != nil {
		return err
	}
	for _, v := range []string{o.RunID, o.Name, o.Key, o.ContentType, o.Error} {
		if !storable(v) {
			return hashike.Errorf(hashike.EInvalid, "put run object %s: its fields must be UTF-8 without NUL", o.RunID)
		}
	}
	created, ns, err := splitTime(o.CreatedAt)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO run_objects (run_id, name, key, size, content_type, error, created_at, created_at_ns)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (run_id, name) DO UPDATE SET key = excluded.key, size = excluded.size,
			content_type = excluded.content_type, error = excluded.error,
			created_at = excluded.created_at, created_at_ns = excluded.created_at_ns`,
		o.RunID, o.Name, o.Key, o.Size, o.ContentType, o.Error, created, ns)
	if err != nil {
		return dbErr("put run object "+o.RunID+" "+o.Name, err)
	}
	return nil
}

// GetRunObject returns the run's object of that name; ENotFound when none is recorded.
func (s *Store) GetRunObject(ctx context.Context, runID, name string) (hashike.RunObject, error) {
	if !storable(runID) || !storable(name) {
		return hashike.RunObject{}, hashike.Errorf(hashike.ENotFound, "run %s has no %s", runID, name)
	}
	o := hashike.RunObject{RunID: runID, Name: name}
	var created time.Time
	var ns int16
	err := s.pool.QueryRow(ctx, `SELECT key, size, content_type, error, created_at, created_at_ns FROM run_objects
		WHERE run_id = $1 AND name = $2`, runID, name).Scan(&o.Key, &o.Size, &o.ContentType, &o.Error, &created, &ns)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return hashike.RunObject{}, hashike.Errorf(hashike.ENotFound, "run %s has no %s", runID, name)
		}
		return hashike.RunObject{}, dbErr("get run object "+runID+" "+name, err)
	}
	o.CreatedAt = joinTime(created, ns)
	return o, nil
}
