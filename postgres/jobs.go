package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/job"
	"github.com/jackc/pgx/v5"
)

// jobLockClass is the first key of the two-key advisory locks that serialize PutJob per job
// name ("hjob"); the second is the name's hash. Two names with one hash only wait for each
// other. Two-key locks never collide with the one-key locks (migrationLock, claimLock).
const jobLockClass = 0x686a6f62

const jobColumns = `name, version, definition, digest, created_at, created_at_ns, source`

func scanJob(row pgx.Row) (hashike.JobVersion, error) {
	var (
		v   hashike.JobVersion
		def []byte
		at  time.Time
		ns  int16
	)
	if err := row.Scan(&v.Name, &v.Version, &def, &v.Digest, &at, &ns, &v.Source); err != nil {
		return hashike.JobVersion{}, err
	}
	v.Definition = json.RawMessage(def)
	v.CreatedAt = joinTime(at, ns)
	return v, nil
}

// PutJob records def as the job's next version unless its digest is the latest version's
// (see hashike.ServerStore). Concurrent puts of one job, from any replica, are serialized by
// an advisory lock on the job's name taken before the latest version is read, so each new
// digest makes one version and versions have no gaps. def.Version is ignored. EInvalid for a
// name job.ValidName refuses, an empty digest, and a definition that is empty or not JSON.
// The definition is kept as sent (a json column).
func (s *Store) PutJob(ctx context.Context, def hashike.JobVersion) (hashike.JobVersion, bool, error) {
	switch {
	case !job.ValidName(def.Name):
		return hashike.JobVersion{}, false, hashike.Errorf(hashike.EInvalid, "put job: %q is not a job name", def.Name)
	case def.Digest == "":
		return hashike.JobVersion{}, false, hashike.Errorf(hashike.EInvalid, "put job %s: no digest", def.Name)
	case len(def.Definition) == 0:
		return hashike.JobVersion{}, false, hashike.Errorf(hashike.EInvalid, "put job %s: empty definition", def.Name)
	case !json.Valid(def.Definition):
		return hashike.JobVersion{}, false, hashike.Errorf(hashike.EInvalid, "put job %s: the definition is not JSON", def.Name)
	}
	at, ns, err := splitTime(def.CreatedAt)
	if err != nil {
		return hashike.JobVersion{}, false, err
	}
	var (
		out     hashike.JobVersion
		created bool
	)
	err = s.inTx(ctx, "put job "+def.Name, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, int32(jobLockClass), def.Name); err != nil {
			return err
		}
		latest, err := scanJob(tx.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE name = $1 ORDER BY version DESC LIMIT 1`, def.Name))
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		case latest.Digest == def.Digest:
			out, created = latest, false
			return nil
		}
		out, err = scanJob(tx.QueryRow(ctx, `INSERT INTO jobs (name, version, definition, digest, created_at, created_at_ns, source)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+jobColumns,
			def.Name, latest.Version+1, string(def.Definition), def.Digest, at, ns, def.Source))
		created = true
		return err
	})
	if err != nil {
		return hashike.JobVersion{}, false, err
	}
	return out, created, nil
}

// GetJob returns one version of a job, the latest for version 0.
func (s *Store) GetJob(ctx context.Context, name string, version int) (hashike.JobVersion, error) {
	if !storable(name) || version < 0 {
		return hashike.JobVersion{}, hashike.Errorf(hashike.ENotFound, "no job %q version %d", name, version)
	}
	q := `SELECT ` + jobColumns + ` FROM jobs WHERE name = $1 AND version = $2`
	args := []any{name, version}
	if version == 0 {
		q, args = `SELECT `+jobColumns+` FROM jobs WHERE name = $1 ORDER BY version DESC LIMIT 1`, []any{name}
	}
	v, err := scanJob(s.pool.QueryRow(ctx, q, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		if version == 0 {
			return hashike.JobVersion{}, hashike.Errorf(hashike.ENotFound, "no job %s", name)
		}
		return hashike.JobVersion{}, hashike.Errorf(hashike.ENotFound, "no job %s version %d", name, version)
	}
	if err != nil {
		return hashike.JobVersion{}, dbErr("get job "+name, err)
	}
	return v, nil
}

// ListJobs returns the latest version of every job, by name (as bytes).
func (s *Store) ListJobs(ctx context.Context) ([]hashike.JobVersion, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT ON (name) `+jobColumns+` FROM jobs ORDER BY name, version DESC`)
	if err != nil {
		return nil, dbErr("list jobs", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (hashike.JobVersion, error) { return scanJob(row) })
	if err != nil {
		return nil, dbErr("list jobs", err)
	}
	return out, nil
}

// ListJobVersions returns every version of a job, newest first; ENotFound for no job.
func (s *Store) ListJobVersions(ctx context.Context, name string) ([]hashike.JobVersion, error) {
	if !storable(name) {
		return nil, hashike.Errorf(hashike.ENotFound, "no job %q", name)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+jobColumns+` FROM jobs WHERE name = $1 ORDER BY version DESC`, name)
	if err != nil {
		return nil, dbErr("list versions of job "+name, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (hashike.JobVersion, error) { return scanJob(row) })
	if err != nil {
		return nil, dbErr("list versions of job "+name, err)
	}
	if len(out) == 0 {
		return nil, hashike.Errorf(hashike.ENotFound, "no job %s", name)
	}
	return out, nil
}
