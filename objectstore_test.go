package hashike_test

import (
	"path"
	"strings"
	"testing"

	"github.com/hashike/hashike"
)

func TestValidateObjectKey(t *testing.T) {
	for _, k := range []string{"a", "logs/by-task/f/c/t/000001.jsonl.zst", "dt=2026-12-06/x", "..x/y..", "ü/日本", strings.Repeat("k", 1024)} {
		if err := hashike.ValidateObjectKey(k); err != nil {
			t.Errorf("ValidateObjectKey(%q) = %v", k, err)
		}
	}
	for k, want := range map[string]string{
		"":                        "empty",
		"/a":                      "starts with /",
		"a/":                      "ends with /",
		"a//b":                    "empty segment",
		"a/./b":                   "has a . segment",
		"../a":                    "has a .. segment",
		"a\tb":                    "control character",
		"\xff":                    "UTF-8",
		strings.Repeat("k", 1025): "longer than 1024",
	} {
		err := hashike.ValidateObjectKey(k)
		if hashike.ErrorCodeOf(err) != hashike.EInvalid || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateObjectKey(%q) = %v, want invalid saying %q", k, err, want)
		}
	}
	for _, p := range []string{"", "logs/", "logs/by-ta", "a/..x", "a/."} {
		if err := hashike.ValidateObjectPrefix(p); err != nil {
			t.Errorf("ValidateObjectPrefix(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"/", "/a", "a//", "../x", "a/../", "a\n"} {
		if err := hashike.ValidateObjectPrefix(p); hashike.ErrorCodeOf(err) != hashike.EInvalid {
			t.Errorf("ValidateObjectPrefix(%q) = %v, want invalid", p, err)
		}
	}
}

// A valid key is a clean relative path: joined to a directory it never leaves it.
func FuzzValidateObjectKey(f *testing.F) {
	for _, k := range []string{"a/b", "../a", "a/..", "./a", "a//b", "a/", "/a", "..a", "a\x00"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if hashike.ValidateObjectKey(key) != nil {
			return
		}
		if path.Clean(key) != key || strings.HasPrefix(key, "../") || key == ".." || path.IsAbs(key) {
			t.Fatalf("valid key %q is not a clean relative path", key)
		}
		if hashike.ValidateObjectPrefix(key) != nil || hashike.ValidateObjectPrefix(key+"/") != nil {
			t.Fatalf("valid key %q is not a valid prefix", key)
		}
	})
}
