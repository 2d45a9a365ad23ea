package main

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

// TestVersion: `hashike version`, `hashike --version` and `version -o json` say the module
// version and the Go version the binary was built with; a bad --output is a usage error.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, errOut := cli(t, nil, args...)
		if code != 0 || !strings.HasPrefix(out, "hashike ") || !strings.Contains(out, runtime.Version()) {
			t.Fatalf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	code, out, _ := cli(t, nil, "version", "-o", "json")
	var v versionInfo
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v.GoVersion != runtime.Version() || v.Version == "" {
		t.Fatalf("version -o json: exit %d, %q", code, out)
	}
	if code, _, errOut := cli(t, nil, "version", "-o", "yaml"); code != 2 || !strings.Contains(errOut, "--output") {
		t.Fatalf("version -o yaml: exit %d, stderr %q; want 2 naming --output", code, errOut)
	}
}
