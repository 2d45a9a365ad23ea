package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMakeDemoExitsWithTheJobsCode runs the Makefile's demo recipe with a stand-in hashike
// whose run exits 7: make fails with the recipe's code 7, after saying so and listing the
// history. A run that exits 0 makes the demo succeed.
func TestMakeDemoExitsWithTheJobsCode(t *testing.T) {
	makefile, err := filepath.Abs(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"7", "0"} {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, "bin"), 0o755); err != nil {
			t.Fatal(err)
		}
		stub := "#!/bin/sh\necho \"hashike $*\"\nif [ \"$1\" = run ]; then exit " + code + "; fi\n"
		if err := os.WriteFile(filepath.Join(dir, "bin", "hashike"), []byte(stub), 0o755); err != nil {
			t.Fatal(err)
		}
		// -o build -o image: take the binary and the image as made.
		c := exec.Command("make", "-f", makefile, "-C", dir, "-o", "build", "-o", "image", "demo")
		out, err := c.CombinedOutput()
		var ee *exec.ExitError
		failed := errors.As(err, &ee)
		if err != nil && !failed {
			t.Fatalf("make: %v", err)
		}
		text := string(out)
		for _, want := range []string{"hashike run examples/hello.yaml", "hashike run exited " + code, "hashike runs --limit 3"} {
			if !strings.Contains(text, want) {
				t.Errorf("job exits %s: make demo output lacks %q:\n%s", code, want, text)
			}
		}
		if code == "0" && failed {
			t.Errorf("job exits 0: make demo failed:\n%s", text)
		}
		if code == "7" && (!failed || !strings.Contains(text, "Error 7")) {
			t.Errorf("job exits 7: make demo did not fail with it (%v):\n%s", err, text)
		}
	}
}
