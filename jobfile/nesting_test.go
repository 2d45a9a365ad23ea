package jobfile_test

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/jobfile"
)

// deepDocs are documents nested depth levels deep (fewer where that would pass the 256 KiB
// a job file may have) in each way YAML and JSON nest.
func deepDocs(depth int) map[string]string {
	nest := func(prefix, open, inner, close, suffix string) string {
		d := min(depth, (250<<10)/(len(open)+len(close)))
		return prefix + strings.Repeat(open, d) + inner + strings.Repeat(close, d) + suffix
	}
	return map[string]string{
		"flow lists":     nest("taskDefinition: ", "[", "", "]", "\n"),
		"flow mappings":  nest("taskDefinition: ", "{a: ", "1", "}", "\n"),
		"JSON":           nest(`{"taskDefinition": `, `{"a":`, "1", "}", "}"),
		"block lists":    nest("taskDefinition:\n  ", "- ", "x", "", "\n"),
		"anchored lists": nest("taskDefinition: ", "&a [", "", "]", "\n"),
		"tagged lists":   nest("taskDefinition: ", "!!seq [", "", "]", "\n"),
		// After a plain scalar holding a quote and one holding a bracket, neither of which
		// opens anything.
		"after plain quotes": nest("description: it's a[0\nextra: ", "[", "", "]", "\n"),
	}
}

// TestDeepDefinitionRefused: a definition nested 100,000 levels deep (or as deep as 256 KiB
// allows) is refused with an error
// naming the depth limit at its file:line:col, and loading it allocates little (the parser's
// tree for 20,000 levels took 680 MB).
func TestDeepDefinitionRefused(t *testing.T) {
	for name, doc := range deepDocs(100_000) {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := jobfile.LoadDefinition("deep.yaml", []byte(doc), api)
			runtime.ReadMemStats(&after)
			var he *hashike.Error
			if !errors.As(err, &he) || he.Code != hashike.EInvalid {
				t.Fatalf("error %v, want EInvalid", err)
			}
			if len(he.Fields) != 1 || !strings.Contains(he.Fields[0].Message, "nested more than 100 levels deep") ||
				!strings.HasPrefix(he.Fields[0].Pos, "deep.yaml:") {
				t.Errorf("fields %+v, want one naming the depth limit at deep.yaml:line:col", he.Fields)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 50<<20 {
				t.Errorf("allocated %d MB for a %d KB document", alloc>>20, len(doc)>>10)
			}
		})
	}
}

// TestManyValuesRefused: a flat list of more values than a definition could need is refused
// before it is parsed, naming the limit.
func TestManyValuesRefused(t *testing.T) {
	doc := "taskDefinition: [" + strings.Repeat("1,", 60_000) + "1]\n"
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := jobfile.LoadDefinition("many.yaml", []byte(doc), api)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "holds more than 20000 values") {
		t.Errorf("error %v, want one naming the 20000-value limit", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 50<<20 {
		t.Errorf("allocated %d MB", alloc>>20)
	}
}

// TestModerateNestingLoads: nesting well within the limit, quotes, comments and block
// scalars full of brackets do not trip the scan.
func TestModerateNestingLoads(t *testing.T) {
	for name, doc := range deepDocs(40) {
		t.Run(name, func(t *testing.T) {
			_, err := jobfile.LoadDefinition("ok.yaml", []byte(doc), api)
			if err != nil && strings.Contains(err.Error(), "levels deep") {
				t.Errorf("refused for depth: %v", err)
			}
		})
	}
	doc := definition + "description: |\n" + strings.Repeat("  [[[[[[[[[[ '\"{ { { { {\n", 40) +
		"# [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n" +
		"expectedDuration: '1h' # " + strings.Repeat("[", 200) + "\n"
	if _, err := jobfile.LoadDefinition("ok.yaml", []byte(doc), api); err != nil {
		t.Errorf("a definition with brackets in a block scalar and comments: %v", err)
	}
}
