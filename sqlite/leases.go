package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/hashike/hashike"
)

// AcquireLease takes or renews the lease in one write transaction. A lease is held while
// now < ExpiresAt. EInvalid for an empty name or holder, or a ttl <= 0.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (hashike.Lease, bool, error) {
	op := "acquire lease " + name
	switch {
	case name == "" || holder == "":
		return hashike.Lease{}, false, hashike.Errorf(hashike.EInvalid, "%s: a lease needs a name and a holder", op)
	case ttl <= 0:
		return hashike.Lease{}, false, hashike.Errorf(hashike.EInvalid, "%s: ttl %s is not positive", op, ttl)
	}
	expires, err := formatTime(now.Add(ttl))
	if err != nil {
		return hashike.Lease{}, false, err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return hashike.Lease{}, false, dbErr(op, err)
	}
	defer tx.Rollback()
	cur, err := scanLease(tx.QueryRowContext(ctx, `SELECT name, holder, expires_at FROM leases WHERE name = ?`, name))
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return hashike.Lease{}, false, dbErr(op, err)
	case cur.Holder != holder && cur.ExpiresAt.After(now):
		return cur, false, nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at`,
		name, holder, expires); err != nil {
		return hashike.Lease{}, false, dbErr(op, err)
	}
	if err := tx.Commit(); err != nil {
		return hashike.Lease{}, false, dbErr(op, err)
	}
	return hashike.Lease{Name: name, Holder: holder, ExpiresAt: now.Add(ttl)}, true, nil
}

func scanLease(row scanner) (hashike.Lease, error) {
	var name, holder, expires string
	if err := row.Scan(&name, &holder, &expires); err != nil {
		return hashike.Lease{}, err
	}
	return parseLease(name, holder, expires)
}

func parseLease(name, holder, expires string) (hashike.Lease, error) {
	t, err := parseTime(expires)
	return hashike.Lease{Name: name, Holder: holder, ExpiresAt: t}, err
}

// ReleaseLease deletes the lease if holder has it; otherwise it does nothing.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder); err != nil {
		return dbErr("release lease "+name, err)
	}
	return nil
}

// GetLease returns the lease, expired or not; ENotFound when it was never taken or was
// released.
func (s *Store) GetLease(ctx context.Context, name string) (hashike.Lease, error) {
	l, err := scanLease(s.r.QueryRowContext(ctx, `SELECT name, holder, expires_at FROM leases WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return l, hashike.Errorf(hashike.ENotFound, "no lease %s", name)
	}
	if err != nil {
		return l, dbErr("get lease "+name, err)
	}
	return l, nil
}

// ScheduleTick returns the job's last tick acted on, zero when none was set.
func (s *Store) ScheduleTick(ctx context.Context, job string) (time.Time, error) {
	var tick string
	err := s.r.QueryRowContext(ctx, `SELECT tick FROM schedule_ticks WHERE job = ?`, job).Scan(&tick)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, dbErr("schedule tick of "+job, err)
	}
	t, err := parseTime(tick)
	if err != nil {
		return time.Time{}, dbErr("schedule tick of "+job, err)
	}
	return t, nil
}

// SetScheduleTick records tick as the job's last, whatever was there.
func (s *Store) SetScheduleTick(ctx context.Context, job string, tick time.Time) error {
	at, err := formatTime(tick)
	if err != nil {
		return err
	}
	if _, err := s.w.ExecContext(ctx, `INSERT INTO schedule_ticks (job, tick) VALUES (?, ?)
		ON CONFLICT (job) DO UPDATE SET tick = excluded.tick`, job, at); err != nil {
		return dbErr("set schedule tick of "+job, err)
	}
	return nil
}
