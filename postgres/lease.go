package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/hashike/hashike"
	"github.com/jackc/pgx/v5"
)

// AcquireLease takes or renews the lease (see hashike.ServerStore). The upsert decides: its
// ON CONFLICT DO UPDATE applies only when the stored lease is the holder's or has expired
// (now >= ExpiresAt), and locks the row either way, so that when it does not apply, the read
// that follows, in the same transaction, sees the lease as it stands and nobody can change it
// before the commit. Concurrent acquires from any replica have one winner. EInvalid for an
// empty name or holder and a ttl <= 0.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (hashike.Lease, bool, error) {
	switch {
	case name == "" || holder == "":
		return hashike.Lease{}, false, hashike.Errorf(hashike.EInvalid, "acquire lease %q for %q: a lease needs a name and a holder", name, holder)
	case ttl <= 0:
		return hashike.Lease{}, false, hashike.Errorf(hashike.EInvalid, "acquire lease %s: ttl %s is not positive", name, ttl)
	}
	nowUs, nowNs, err := splitTime(now)
	if err != nil {
		return hashike.Lease{}, false, err
	}
	until, untilNs, err := splitTime(now.Add(ttl))
	if err != nil {
		return hashike.Lease{}, false, err
	}
	var (
		out hashike.Lease
		won bool
	)
	err = s.inTx(ctx, "acquire lease "+name, func(tx pgx.Tx) error {
		out, won = hashike.Lease{Name: name}, true
		var at time.Time
		var ns int16
		err := tx.QueryRow(ctx, `INSERT INTO leases (name, holder, expires_at, expires_at_ns) VALUES ($1, $2, $3, $4)
			ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at, expires_at_ns = EXCLUDED.expires_at_ns
			WHERE leases.holder = EXCLUDED.holder OR (leases.expires_at, leases.expires_at_ns) <= ($5, $6)
			RETURNING holder, expires_at, expires_at_ns`,
			name, holder, until, untilNs, nowUs, nowNs).Scan(&out.Holder, &at, &ns)
		if errors.Is(err, pgx.ErrNoRows) {
			won = false
			err = tx.QueryRow(ctx, `SELECT holder, expires_at, expires_at_ns FROM leases WHERE name = $1`, name).Scan(&out.Holder, &at, &ns)
		}
		out.ExpiresAt = joinTime(at, ns)
		return err
	})
	if err != nil {
		return hashike.Lease{}, false, err
	}
	return out, won, nil
}

// ReleaseLease deletes the lease if holder has it; otherwise it does nothing.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder)
	return dbErr("release lease "+name, err)
}

// GetLease returns the lease, expired or not; ENotFound when it was never taken or was
// released.
func (s *Store) GetLease(ctx context.Context, name string) (hashike.Lease, error) {
	if !storable(name) {
		return hashike.Lease{}, hashike.Errorf(hashike.ENotFound, "no lease %q", name)
	}
	l := hashike.Lease{Name: name}
	var at time.Time
	var ns int16
	err := s.pool.QueryRow(ctx, `SELECT holder, expires_at, expires_at_ns FROM leases WHERE name = $1`, name).Scan(&l.Holder, &at, &ns)
	if errors.Is(err, pgx.ErrNoRows) {
		return hashike.Lease{}, hashike.Errorf(hashike.ENotFound, "no lease %s", name)
	}
	if err != nil {
		return hashike.Lease{}, dbErr("get lease "+name, err)
	}
	l.ExpiresAt = joinTime(at, ns)
	return l, nil
}

// ScheduleTick returns the job's last tick, the zero time when none was set.
func (s *Store) ScheduleTick(ctx context.Context, job string) (time.Time, error) {
	if !storable(job) {
		return time.Time{}, nil
	}
	var at time.Time
	var ns int16
	err := s.pool.QueryRow(ctx, `SELECT tick, tick_ns FROM schedule_ticks WHERE job = $1`, job).Scan(&at, &ns)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, dbErr("schedule tick of "+job, err)
	}
	return joinTime(at, ns), nil
}

// SetScheduleTick records the job's last tick, replacing the one before (even a later one).
func (s *Store) SetScheduleTick(ctx context.Context, job string, tick time.Time) error {
	at, ns, err := splitTime(tick)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO schedule_ticks (job, tick, tick_ns) VALUES ($1, $2, $3)
		ON CONFLICT (job) DO UPDATE SET tick = EXCLUDED.tick, tick_ns = EXCLUDED.tick_ns`, job, at, ns)
	return dbErr("set schedule tick of "+job, err)
}
