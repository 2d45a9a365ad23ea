package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hashike/hashike"
	sqlite3 "modernc.org/sqlite/lib"
)

const tokenColumns = `id, name, hash, scope, created_at, revoked_at`

func scanToken(row scanner) (hashike.Token, error) {
	var t hashike.Token
	var scope, createdAt string
	var revokedAt sql.NullString
	if err := row.Scan(&t.ID, &t.Name, &t.Hash, &scope, &createdAt, &revokedAt); err != nil {
		return t, err
	}
	t.Scope = hashike.Scope(scope)
	var err error
	if t.CreatedAt, err = parseTime(createdAt); err != nil {
		return t, fmt.Errorf("token %s: created_at: %w", t.ID, err)
	}
	if t.RevokedAt, err = parseNullTime(revokedAt); err != nil {
		return t, fmt.Errorf("token %s: revoked_at: %w", t.ID, err)
	}
	return t, nil
}

// CreateToken stores t. EInvalid without an ID or hash or with an unknown scope; EConflict
// when the ID or the hash exists (a revoked token's included).
func (s *Store) CreateToken(ctx context.Context, t hashike.Token) error {
	op := "create token " + t.ID
	switch {
	case t.ID == "" || t.Hash == "":
		return hashike.Errorf(hashike.EInvalid, "%s: a token needs an ID and a hash", op)
	case !t.Scope.Valid():
		return hashike.Errorf(hashike.EInvalid, "%s: unknown scope %q", op, t.Scope)
	}
	createdAt, err := formatTime(t.CreatedAt)
	if err != nil {
		return err
	}
	revokedAt, err := nullTime(t.RevokedAt)
	if err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		t.ID, t.Name, t.Hash, string(t.Scope), createdAt, revokedAt)
	if constraint(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) || constraint(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE) {
		return hashike.Errorf(hashike.EConflict, "%s: a token with this ID or hash exists", op)
	}
	if err != nil {
		return dbErr(op, err)
	}
	return nil
}

// TokenByHash returns the unrevoked token with this hash; ENotFound otherwise.
func (s *Store) TokenByHash(ctx context.Context, hash string) (hashike.Token, error) {
	t, err := scanToken(s.r.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens
		WHERE hash = ? AND revoked_at IS NULL`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return t, hashike.Errorf(hashike.ENotFound, "no such token")
	}
	if err != nil {
		return t, dbErr("token by hash", err)
	}
	return t, nil
}

// ListTokens returns every token, revoked ones included, by creation.
func (s *Store) ListTokens(ctx context.Context) ([]hashike.Token, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, dbErr("list tokens", err)
	}
	defer rows.Close()
	out := []hashike.Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, dbErr("list tokens", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list tokens", err)
	}
	return out, nil
}

// RevokeToken revokes the token at now, or keeps the time it was first revoked at.
// ENotFound for an unknown ID.
func (s *Store) RevokeToken(ctx context.Context, id string, now time.Time) error {
	op := "revoke token " + id
	at, err := formatTime(now)
	if err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, `UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, at, id)
	if err != nil {
		return dbErr(op, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return dbErr(op, err)
	} else if n == 0 {
		return hashike.Errorf(hashike.ENotFound, "no token %s", id)
	}
	return nil
}
