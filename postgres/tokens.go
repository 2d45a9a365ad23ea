package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/hashike/hashike"
	"github.com/jackc/pgx/v5"
)

const tokenColumns = `id, name, hash, scope, created_at, created_at_ns, revoked_at, revoked_at_ns`

func scanToken(row pgx.Row) (hashike.Token, error) {
	var (
		t         hashike.Token
		scope     string
		at        time.Time
		ns        int16
		revoked   *time.Time
		revokedNs *int16
	)
	if err := row.Scan(&t.ID, &t.Name, &t.Hash, &scope, &at, &ns, &revoked, &revokedNs); err != nil {
		return hashike.Token{}, err
	}
	t.Scope = hashike.Scope(scope)
	t.CreatedAt = joinTime(at, ns)
	t.RevokedAt = joinNullTime(revoked, revokedNs)
	return t, nil
}

// CreateToken stores a token. EInvalid for an empty ID or hash or an unknown scope;
// EConflict when the ID or the hash is taken, by a revoked token too.
func (s *Store) CreateToken(ctx context.Context, t hashike.Token) error {
	switch {
	case t.ID == "" || t.Hash == "":
		return hashike.Errorf(hashike.EInvalid, "create token %q: a token needs an ID and a hash", t.ID)
	case !t.Scope.Valid():
		return hashike.Errorf(hashike.EInvalid, "create token %s: unknown scope %q", t.ID, t.Scope)
	}
	at, ns, err := splitTime(t.CreatedAt)
	if err != nil {
		return err
	}
	revoked, revokedNs, err := nullTime(t.RevokedAt)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO tokens (`+tokenColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		t.ID, t.Name, t.Hash, string(t.Scope), at, ns, revoked, revokedNs)
	return dbErr("create token "+t.ID, err)
}

// TokenByHash returns the unrevoked token with this hash.
func (s *Store) TokenByHash(ctx context.Context, hash string) (hashike.Token, error) {
	if !storable(hash) {
		return hashike.Token{}, hashike.Errorf(hashike.ENotFound, "no such token")
	}
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = $1 AND revoked_at IS NULL`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		// The hash is a credential: it is not repeated in the message.
		return hashike.Token{}, hashike.Errorf(hashike.ENotFound, "no such token")
	}
	if err != nil {
		return hashike.Token{}, dbErr("token by hash", err)
	}
	return t, nil
}

// ListTokens returns every token, revoked ones included, by (CreatedAt, ID).
func (s *Store) ListTokens(ctx context.Context) ([]hashike.Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY created_at, created_at_ns, id`)
	if err != nil {
		return nil, dbErr("list tokens", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (hashike.Token, error) { return scanToken(row) })
	if err != nil {
		return nil, dbErr("list tokens", err)
	}
	return out, nil
}

// RevokeToken revokes a token at now; revoking again keeps the first time. ENotFound for an
// unknown ID.
func (s *Store) RevokeToken(ctx context.Context, id string, now time.Time) error {
	if !storable(id) {
		return hashike.Errorf(hashike.ENotFound, "no token %q", id)
	}
	at, ns, err := splitTime(now)
	if err != nil {
		return err
	}
	// SET's expressions all read the row as it was: both columns test the old revoked_at.
	tag, err := s.pool.Exec(ctx, `UPDATE tokens SET
			revoked_at = CASE WHEN revoked_at IS NULL THEN $2 ELSE revoked_at END,
			revoked_at_ns = CASE WHEN revoked_at IS NULL THEN $3 ELSE revoked_at_ns END
		WHERE id = $1`, id, at, ns)
	if err != nil {
		return dbErr("revoke token "+id, err)
	}
	if tag.RowsAffected() == 0 {
		return hashike.Errorf(hashike.ENotFound, "no token %s", id)
	}
	return nil
}
