package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestLogSearchBadFlags: every bad flag and the pattern are named at once, and nothing is opened.
func TestLogSearchBadFlags(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"HASHIKE_DB": filepath.Join(dir, "state", "server.db"), "HOME": dir}
	code, out, errs := cli(t, env, "logs", "search", "--since", "yesterday", "--until", "2026-13-01", "--state", "done",
		"--limit", "-1", "-o", "yaml", "(")
	if code != 2 {
		t.Fatalf("exit %d, want 2 (stdout %q, stderr %q)", code, out, errs)
	}
	for _, want := range []string{"--since", "--until", "--state", "--limit", "--output", "PATTERN", "missing closing )"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "state", "*")); len(matches) > 0 {
		t.Errorf("bad flags created %v", matches)
	}
}
