package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/job"
)

const jobColumns = `name, version, definition, digest, created_at, source`

func scanJob(row scanner) (hashike.JobVersion, error) {
	var v hashike.JobVersion
	var def, createdAt string
	if err := row.Scan(&v.Name, &v.Version, &def, &v.Digest, &createdAt, &v.Source); err != nil {
		return v, err
	}
	v.Definition = json.RawMessage(def)
	var err error
	if v.CreatedAt, err = parseTime(createdAt); err != nil {
		return v, fmt.Errorf("job %s version %d: created_at: %w", v.Name, v.Version, err)
	}
	return v, nil
}

// PutJob records def as the job's next version unless its digest is the latest version's.
// EInvalid for a name job.ValidName refuses, an empty digest, or a definition that is empty
// or not JSON; def.Version is ignored.
func (s *Store) PutJob(ctx context.Context, def hashike.JobVersion) (hashike.JobVersion, bool, error) {
	op := "put job " + def.Name
	switch {
	case !job.ValidName(def.Name):
		return hashike.JobVersion{}, false, hashike.Errorf(hashike.EInvalid, "%s: %q is not a job name", op, def.Name)
	case def.Digest == "":
		return hashike.JobVersion{}, false, hashike.Errorf(hashike.EInvalid, "%s: no digest", op)
	case len(def.Definition) == 0 || !json.Valid(def.Definition):
		return hashike.JobVersion{}, false, hashike.Errorf(hashike.EInvalid, "%s: the definition is not a JSON document", op)
	}
	createdAt, err := formatTime(def.CreatedAt)
	if err != nil {
		return hashike.JobVersion{}, false, err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return hashike.JobVersion{}, false, dbErr(op, err)
	}
	defer tx.Rollback()
	latest, err := scanJob(tx.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE name = ?
		ORDER BY version DESC LIMIT 1`, def.Name))
	switch {
	case err == nil && latest.Digest == def.Digest:
		return latest, false, nil
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return hashike.JobVersion{}, false, dbErr(op, err)
	}
	v := hashike.JobVersion{Name: def.Name, Version: latest.Version + 1, Definition: def.Definition,
		Digest: def.Digest, CreatedAt: def.CreatedAt, Source: def.Source}
	if _, err := tx.ExecContext(ctx, `INSERT INTO jobs (`+jobColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		v.Name, v.Version, string(v.Definition), v.Digest, createdAt, v.Source); err != nil {
		return hashike.JobVersion{}, false, dbErr(op, err)
	}
	if err := tx.Commit(); err != nil {
		return hashike.JobVersion{}, false, dbErr(op, err)
	}
	v.Definition = append(json.RawMessage(nil), def.Definition...)
	return v, true, nil
}

// GetJob returns version of the job (0: the latest). ENotFound when either does not exist.
func (s *Store) GetJob(ctx context.Context, name string, version int) (hashike.JobVersion, error) {
	op := fmt.Sprintf("get job %s version %d", name, version)
	q, args := s.read.jobVersion, []any{name, version}
	if version == 0 {
		q, args = s.read.jobLatest, args[:1]
	}
	v, err := scanJob(q.QueryRowContext(ctx, args...))
	if errors.Is(err, sql.ErrNoRows) {
		if version == 0 {
			return v, hashike.Errorf(hashike.ENotFound, "no job %s", name)
		}
		return v, hashike.Errorf(hashike.ENotFound, "no version %d of job %s", version, name)
	}
	if err != nil {
		return v, dbErr(op, err)
	}
	return v, nil
}

// ListJobs returns the latest version of every job, by name.
func (s *Store) ListJobs(ctx context.Context) ([]hashike.JobVersion, error) {
	return s.listJobs(ctx, "list jobs", `SELECT `+jobColumns+` FROM jobs j
		WHERE version = (SELECT MAX(version) FROM jobs WHERE name = j.name) ORDER BY name`)
}

// ListJobVersions returns every version of the job, newest first; ENotFound for no job.
func (s *Store) ListJobVersions(ctx context.Context, name string) ([]hashike.JobVersion, error) {
	vs, err := s.listJobs(ctx, "list versions of job "+name,
		`SELECT `+jobColumns+` FROM jobs WHERE name = ? ORDER BY version DESC`, name)
	if err == nil && len(vs) == 0 {
		return nil, hashike.Errorf(hashike.ENotFound, "no job %s", name)
	}
	return vs, err
}

func (s *Store) listJobs(ctx context.Context, op, q string, args ...any) ([]hashike.JobVersion, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, dbErr(op, err)
	}
	defer rows.Close()
	out := []hashike.JobVersion{}
	for rows.Next() {
		v, err := scanJob(rows)
		if err != nil {
			return nil, dbErr(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(op, err)
	}
	return out, nil
}
