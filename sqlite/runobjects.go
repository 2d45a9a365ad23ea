package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/hashike/hashike"
)

// PutRunObject records o, replacing the run's object of that name (see hashike.RunObjects).
func (s *Store) PutRunObject(ctx context.Context, o hashike.RunObject) error {
	if err := hashike.ValidateRunObject(o); err != nil {
		return err
	}
	created, err := formatTime(o.CreatedAt)
	if err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO run_objects (run_id, name, key, size, content_type, error, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (run_id, name) DO UPDATE SET key = excluded.key, size = excluded.size,
			content_type = excluded.content_type, error = excluded.error, created_at = excluded.created_at`,
		o.RunID, o.Name, o.Key, o.Size, o.ContentType, o.Error, created)
	if err != nil {
		return dbErr("put run object "+o.RunID+" "+o.Name, err)
	}
	return nil
}

// GetRunObject returns the run's object of that name; ENotFound when none is recorded.
func (s *Store) GetRunObject(ctx context.Context, runID, name string) (hashike.RunObject, error) {
	o := hashike.RunObject{RunID: runID, Name: name}
	var created string
	err := s.r.QueryRowContext(ctx, `SELECT key, size, content_type, error, created_at FROM run_objects
		WHERE run_id = ? AND name = ?`, runID, name).Scan(&o.Key, &o.Size, &o.ContentType, &o.Error, &created)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return hashike.RunObject{}, hashike.Errorf(hashike.ENotFound, "run %s has no %s", runID, name)
		}
		return hashike.RunObject{}, dbErr("get run object "+runID+" "+name, err)
	}
	if o.CreatedAt, err = parseTime(created); err != nil {
		return hashike.RunObject{}, err
	}
	return o, nil
}
