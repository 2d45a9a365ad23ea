package jobfile

import (
	"strings"
	"testing"

	"github.com/goccy/go-yaml/ast"
)

// depthOf is the collection nesting of a parsed node: what the parser's cost grows with.
func depthOf(n ast.Node) int {
	switch n := n.(type) {
	case *ast.MappingNode:
		d := 0
		for _, v := range n.Values {
			d = max(d, depthOf(v.Key), depthOf(v.Value))
		}
		return d + 1
	case *ast.MappingValueNode:
		return 1 + max(depthOf(n.Key), depthOf(n.Value))
	case *ast.SequenceNode:
		d := 0
		for _, v := range n.Values {
			d = max(d, depthOf(v))
		}
		return d + 1
	case *ast.AnchorNode:
		return depthOf(n.Value)
	case *ast.TagNode:
		return depthOf(n.Value)
	case *ast.MappingKeyNode:
		return depthOf(n.Value)
	}
	return 0
}

// FuzzScanLimits: the scan never lets through a document the parser finds nested deeper than
// the scan's limit (else the parser's cost is unbounded again), whatever quotes, comments,
// block scalars, anchors, tags and flow collections do. A small limit lets the fuzzer reach
// it.
func FuzzScanLimits(f *testing.F) {
	for _, s := range []string{
		"a: [[[[1]]]]\n",
		"- - - - - x\n",
		"a:\n  b:\n    c:\n      d:\n        e: 1\n",
		"a: 'it''s [' # [[\nb: [[{c: \"[\\\"\"}]]\nd: |\n  [[[\n",
		"description: it's a[0\nextra: [[[[[[]]]]]]\n",
		"x: &a !!seq [&b [!!seq [[[]]]]]\n",
		"? [[[[x]]]]\n: y\n",
		"{\"a\": {\"b\": [[{\"c\": 1}]]}}",
		"a: >-\n  {{{\nb: {c: {d: {e: {f: 1}}}}}\n",
		"- \"multi\n  line [[[[\" \n- [[[[[x]]]]]\n",
		"a: b\n  c: [[[[[[1]]]]]]\n",
	} {
		f.Add(s)
	}
	const limit = 5
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) > 4096 {
			return
		}
		s := scanner{text: text, blockScalar: -1, maxDepth: limit, maxNodes: maxScanNodes}
		if off, _ := s.scan(); off >= 0 {
			return
		}
		file, err := parseYAML(text)
		if err != nil {
			return
		}
		for _, doc := range file.Docs {
			if doc == nil || doc.Body == nil {
				continue
			}
			if d := depthOf(doc.Body); d > limit {
				t.Fatalf("the scan passed a document nested %d deep (limit %d):\n%s", d, limit, strings.TrimSpace(text))
			}
		}
	})
}
