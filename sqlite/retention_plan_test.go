package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestPruningPlans: the pruner's statements reach runs by ID, created_at or their partial
// index, never through runs_state (every ended run) nor with a sort of their own: at a day's
// runs per pass, either made one pass take minutes. The statements repeat the store's.
func TestPruningPlans(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, q := range []string{
		`SELECT r.id, r.job, r.created_at FROM runs r INDEXED BY runs_logs_held WHERE r.logs_deleted_at IS NULL AND r.state IN ` + ended + ` AND r.created_at < '2' AND COALESCE(r.finished_at, r.created_at) < '2' AND (r.created_at, r.id) > ('1', 'a') ORDER BY r.created_at, r.id LIMIT 500`,
		`SELECT r.id, r.job, r.created_at FROM runs r INDEXED BY runs_created_at WHERE ` + deletable + ` AND r.created_at < '2' AND COALESCE(r.finished_at, r.created_at) < '2' AND (r.created_at, r.id) > ('1', 'a') ORDER BY r.created_at, r.id LIMIT 500`,
		`SELECT r.id, r.job, r.created_at FROM runs r INDEXED BY runs_created_at WHERE ` + deletable + ` AND r.created_at < '2' AND COALESCE(r.finished_at, r.created_at) < '2' AND r.job NOT IN (SELECT value FROM json_each('[]')) ORDER BY r.created_at, r.id LIMIT 500`,
		`DELETE FROM run_logs WHERE run_id IN (SELECT id FROM runs WHERE id IN (SELECT value FROM json_each('[]')) AND +state IN ` + ended + `)`,
		`UPDATE runs SET logs_deleted_at = '1' WHERE id IN (SELECT value FROM json_each('[]')) AND +state IN ` + ended + ` AND logs_deleted_at IS NULL`,
		`DELETE FROM runs WHERE id IN (SELECT r.id FROM runs r WHERE r.id IN (SELECT value FROM json_each('[]')) AND ` + deletable + `)`,
	} {
		rows, err := s.w.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(detail, "runs_state") || strings.Contains(detail, "TEMP B-TREE") || strings.HasPrefix(detail, "SCAN r") || strings.HasPrefix(detail, "SCAN runs") {
				t.Errorf("%s\nplan step %q", q, detail)
			}
		}
		rows.Close()
	}
}
