package jobfile

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"

	"github.com/hashike/hashike"
)

const (
	// maxNodes bounds the values one load decodes, counting each expansion of an alias, so
	// that a few lines of nested aliases cannot make it decode billions.
	maxNodes = 50_000
	// maxDepth bounds nesting (through aliases and merge keys too).
	maxDepth = 100
)

var (
	taskDefType      = reflect.TypeFor[hashike.TaskDefinition]()
	containerDefType = reflect.TypeFor[hashike.ContainerDefinition]()
	volumeType       = reflect.TypeFor[hashike.Volume]()
	durationType     = reflect.TypeFor[hashike.Duration]()
	taskSizeType     = reflect.TypeFor[hashike.TaskSize]()
	extraType        = reflect.TypeFor[map[string]any]()
)

// problem is one FieldError with its position kept as a pos for sorting.
type problem struct {
	path    string
	message string
	at      pos
	// lost marks a value that could not be stored (a type error, an unreadable referenced
	// file): Validate's complaints about that field are consequences, not news.
	lost bool
	// mustEnv marks an unset must_env variable; action is where its {{ is.
	mustEnv bool
	action  pos
	// placeholder marks an offline stand-in value (Lookups.Offline): not reported itself,
	// it drops the problems of its line, as mustEnv does.
	placeholder bool
	// fromValidate marks a finding of JobSpec.Validate.
	fromValidate bool
}

// span is where a field's key and value are. A list element or a file's top level has no key.
type span struct{ key, val pos }

// decoder turns goccy AST nodes into the root package's types by their json tags, reporting
// every problem it meets instead of stopping at the first.
type decoder struct {
	src       *source
	anchors   map[string][]*ast.AnchorNode // by name, in document order, for src
	expanding map[*ast.AnchorNode]bool     // aliases being expanded: a repeat is a cycle
	inRef     bool                         // decoding a referenced task definition file

	positions map[string]span
	problems  []problem
	budget    int
	depth     int
	structs   map[reflect.Type]*structInfo

	// reference loads a task definition file named by the job file's taskDefinition.
	reference func(path string, keyAt pos, n ast.Node, rv reflect.Value)
}

func newDecoder() *decoder {
	return &decoder{
		expanding: map[*ast.AnchorNode]bool{},
		positions: map[string]span{},
		budget:    maxNodes,
		structs:   map[reflect.Type]*structInfo{},
	}
}

func (d *decoder) report(path string, at pos, lost bool, format string, args ...any) {
	d.problems = append(d.problems, problem{path: path, message: fmt.Sprintf(format, args...), at: at, lost: lost})
}

// withSource switches the decoder to another file (for a referenced task definition) and
// returns a function that switches back.
func (d *decoder) withSource(src *source, doc ast.Node) func() {
	savedSrc, savedAnchors := d.src, d.anchors
	d.src = src
	d.anchors = map[string][]*ast.AnchorNode{}
	if doc != nil {
		ast.Walk(anchorCollector(d.anchors), doc)
	}
	return func() { d.src, d.anchors = savedSrc, savedAnchors }
}

type anchorCollector map[string][]*ast.AnchorNode

func (c anchorCollector) Visit(n ast.Node) ast.Visitor {
	if a, ok := n.(*ast.AnchorNode); ok && a.Name != nil && a.Name.GetToken() != nil {
		name := a.Name.GetToken().Value
		c[name] = append(c[name], a)
	}
	return c
}

// anchorFor finds the anchor an alias refers to: the last one of its name defined before it.
func (d *decoder) anchorFor(alias *ast.AliasNode) (string, *ast.AnchorNode) {
	if alias.Value == nil || alias.Value.GetToken() == nil {
		return "", nil
	}
	name := alias.Value.GetToken().Value
	off := offsetOf(alias)
	var found *ast.AnchorNode
	for _, a := range d.anchors[name] {
		if offsetOf(a) < off {
			found = a
		}
	}
	return name, found
}

func offsetOf(n ast.Node) int {
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return tk.Position.Offset
	}
	return 0
}

func (d *decoder) nodePos(n ast.Node) pos { return d.src.nodePos(n) }

// nodePos is where a node's text starts. A block mapping's token is its first ':', so it
// is placed at its first key instead.
func (s *source) nodePos(n ast.Node) pos {
	switch x := n.(type) {
	case nil:
		return s.start()
	case *ast.MappingNode:
		if !x.IsFlowStyle && len(x.Values) > 0 && x.Values[0] != nil && x.Values[0].Key != nil {
			return s.nodePos(x.Values[0].Key)
		}
	case *ast.MappingValueNode:
		if x.Key != nil {
			return s.nodePos(x.Key)
		}
	case *ast.LiteralNode:
		return s.tokenPos(x.Start)
	}
	return s.tokenPos(n.GetToken())
}

// enter resolves anchors, aliases and tags to the node holding the value, counting it
// against the budget and the depth limit. When ok, release must be called once done with
// the value (and its children).
func (d *decoder) enter(path string, at pos, n ast.Node) (_ ast.Node, release func(), ok bool) {
	if d.budget <= 0 {
		return nil, nil, false
	}
	d.budget--
	if d.budget == 0 {
		d.report(path, at, true, "too many values: aliases expand to more than %d", maxNodes)
		return nil, nil, false
	}
	if d.depth >= maxDepth {
		d.report(path, at, true, "nested more than %d levels deep", maxDepth)
		return nil, nil, false
	}
	d.depth++
	var marked []*ast.AnchorNode
	release = func() {
		d.depth--
		for _, a := range marked {
			delete(d.expanding, a)
		}
	}
	forceString := false
	for {
		switch x := n.(type) {
		case *ast.AnchorNode:
			n = x.Value
			continue
		case *ast.AliasNode:
			name, a := d.anchorFor(x)
			if a == nil {
				d.report(path, at, true, "alias *%s names no anchor defined before it", name)
				release()
				return nil, nil, false
			}
			if d.expanding[a] {
				d.report(path, at, true, "alias *%s refers to itself", name)
				release()
				return nil, nil, false
			}
			d.expanding[a] = true
			marked = append(marked, a)
			n = a.Value
			continue
		case *ast.TagNode:
			switch tag := x.Start.Value; tag {
			case "!!str":
				forceString = true
			case "!!null":
				n = nil
				continue
			case "!!map", "!!seq", "!!int", "!!float", "!!bool":
			default:
				d.report(path, at, true, "unsupported YAML tag %s", tag)
				release()
				return nil, nil, false
			}
			n = x.Value
			continue
		}
		break
	}
	if forceString {
		if !isScalar(n) {
			d.report(path, at, true, "!!str applies to a scalar, not %s", describe(n))
			release()
			return nil, nil, false
		}
		n = asString(n)
	}
	return n, release, true
}

func isScalar(n ast.Node) bool {
	switch n.(type) {
	case nil, *ast.StringNode, *ast.LiteralNode, *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode,
		*ast.NullNode, *ast.InfinityNode, *ast.NanNode:
		return true
	}
	return false
}

// asString is the string a scalar's text stands for, as a string node (for !!str).
func asString(n ast.Node) *ast.StringNode {
	switch x := n.(type) {
	case *ast.StringNode:
		return x
	case *ast.LiteralNode:
		if x.Value != nil {
			return x.Value
		}
		return &ast.StringNode{BaseNode: &ast.BaseNode{}, Token: x.Start}
	case nil:
		return &ast.StringNode{BaseNode: &ast.BaseNode{}, Token: &token.Token{Position: &token.Position{}}}
	}
	tk := n.GetToken()
	return &ast.StringNode{BaseNode: &ast.BaseNode{}, Token: tk, Value: tk.Value}
}

func isNull(n ast.Node) bool {
	switch n.(type) {
	case nil, *ast.NullNode:
		return true
	}
	return false
}

func isMapping(n ast.Node) bool {
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return true
	}
	return false
}

func mappingValues(n ast.Node) []*ast.MappingValueNode {
	switch x := n.(type) {
	case *ast.MappingNode:
		return x.Values
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{x}
	}
	return nil
}

// stringValue returns a string node's value.
func stringValue(n ast.Node) (string, bool) {
	switch x := n.(type) {
	case *ast.StringNode:
		return x.Value, true
	case *ast.LiteralNode:
		if x.Value == nil {
			return "", true
		}
		return x.Value.Value, true
	}
	return "", false
}

// describe names what a node holds, for "must be X, got Y".
func describe(n ast.Node) string {
	text := func() string {
		if tk := n.GetToken(); tk != nil {
			return tk.Value
		}
		return ""
	}
	switch x := n.(type) {
	case nil, *ast.NullNode:
		return "null"
	case *ast.StringNode, *ast.LiteralNode:
		s, _ := stringValue(x)
		return fmt.Sprintf("string %q", truncate(s))
	case *ast.IntegerNode:
		return "integer " + truncate(text())
	case *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "number " + truncate(text())
	case *ast.BoolNode:
		return "boolean " + text()
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	}
	return "a " + n.Type().YAMLName()
}

func truncate(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:37]) + "..."
	}
	return s
}

// expected names what a Go type accepts.
func expected(t reflect.Type) string {
	switch t {
	case durationType:
		return `a duration such as "10m"`
	case taskSizeType:
		return `a number or a string such as "1 vCPU" or "2 GB"`
	}
	switch t.Kind() {
	case reflect.Pointer:
		return expected(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean (true or false)"
	case reflect.Slice:
		switch t.Elem().Kind() {
		case reflect.String:
			return "a list of strings"
		case reflect.Struct:
			return "a list of mappings"
		}
		return "a list"
	case reflect.Map:
		if t.Elem().Kind() == reflect.String {
			return "a mapping of strings"
		}
		return "a mapping"
	case reflect.Struct:
		return "a mapping"
	}
	return "a " + t.String()
}

func (d *decoder) typeError(path string, at pos, t reflect.Type, n ast.Node) {
	msg := fmt.Sprintf("must be %s, got %s", expected(t), describe(n))
	if t.Kind() == reflect.String || t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.String {
		switch n.(type) {
		case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
			msg += fmt.Sprintf(" (quote it: %q)", n.GetToken().Value)
		}
	}
	d.report(path, at, true, "%s", msg)
}

// structInfo is what the decoder needs to know about a struct type.
type structInfo struct {
	fields     map[string][]int // json name -> field index path (longer through embedded structs)
	extra      int              // index of the Extra map, or -1
	extraNames map[string]bool
	candidates []string // every accepted name, for suggestions
}

func (d *decoder) structInfo(t reflect.Type) *structInfo {
	if s, ok := d.structs[t]; ok {
		return s
	}
	s := &structInfo{fields: map[string][]int{}, extra: -1, extraNames: map[string]bool{}}
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); f.Name == "Extra" && f.Type == extraType {
			s.extra = i
		}
	}
	for _, f := range jsonFields(t) {
		s.fields[f.name] = f.index
		s.candidates = append(s.candidates, f.name)
	}
	if s.extra >= 0 {
		var names []string
		switch t {
		case taskDefType:
			names = hashike.ECSTaskDefinitionExtraFields
		case containerDefType:
			names = hashike.ECSContainerDefinitionExtraFields
		case volumeType:
			names = hashike.ECSVolumeExtraFields
		}
		for _, n := range names {
			s.extraNames[n] = true
			s.candidates = append(s.candidates, n)
		}
	}
	d.structs[t] = s
	return s
}

// jsonField is one field a struct's JSON object has.
type jsonField struct {
	name  string
	index []int
}

// jsonFields lists the fields encoding/json reads into t, in field order: tagged exported
// fields, and the fields of untagged embedded structs (and pointers to them) promoted to
// the top, a shallower field hiding a deeper one of the same name and two at the same depth
// hiding each other unless exactly one is tagged. Untagged fields are not read: the root
// package tags every field it means to be in a file (and tags jobfile:"-" the ones it
// stores but a file never sets).
func jsonFields(t reflect.Type) []jsonField {
	type level struct {
		t     reflect.Type
		index []int
	}
	var out []jsonField
	taken := map[string]bool{} // names settled at a shallower depth
	visited := map[reflect.Type]bool{}
	for current := []level{{t: t}}; len(current) > 0; {
		var next []level
		byName := map[string][]jsonField{}
		var order []string
		for _, lv := range current {
			if visited[lv.t] {
				continue
			}
			visited[lv.t] = true
			for i := 0; i < lv.t.NumField(); i++ {
				f := lv.t.Field(i)
				index := append(append([]int(nil), lv.index...), i)
				tag := f.Tag.Get("json")
				name, _, _ := strings.Cut(tag, ",")
				// jobfile:"-" marks a field the stores keep but a file never sets.
				if tag == "-" || f.Tag.Get("jobfile") == "-" {
					continue
				}
				if f.Anonymous && name == "" {
					ft := f.Type
					if ft.Kind() == reflect.Pointer {
						ft = ft.Elem()
					}
					// encoding/json cannot allocate an unexported embedded pointer either.
					if ft.Kind() == reflect.Struct && (f.IsExported() || f.Type.Kind() != reflect.Pointer) {
						next = append(next, level{t: ft, index: index})
					}
					continue
				}
				if name == "" || !f.IsExported() || taken[name] {
					continue
				}
				if _, seen := byName[name]; !seen {
					order = append(order, name)
				}
				byName[name] = append(byName[name], jsonField{name: name, index: index})
			}
		}
		for _, name := range order {
			fs := byName[name]
			taken[name] = true
			if len(fs) == 1 {
				out = append(out, fs[0])
			}
			// Several at one depth, all tagged: encoding/json reads none of them.
		}
		current = next
	}
	return out
}

// fieldAt returns the field at index, allocating the embedded pointers on the way.
func fieldAt(rv reflect.Value, index []int) reflect.Value {
	for i, x := range index {
		if i > 0 && rv.Kind() == reflect.Pointer {
			if rv.IsNil() {
				rv.Set(reflect.New(rv.Type().Elem()))
			}
			rv = rv.Elem()
		}
		rv = rv.Field(x)
	}
	return rv
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// entry is one key/value pair of a mapping.
type entry struct {
	key   string
	keyAt pos
	value ast.Node
}

// entries lists a mapping's pairs. A repeated key is reported and dropped. Pairs from merge
// keys (<<) fill in only the keys the mapping does not give itself; among several merged
// mappings the first wins, as YAML has it.
func (d *decoder) entries(path string, n ast.Node) []entry {
	var out []entry
	var merges []ast.Node
	first := map[string]pos{}
	for _, mv := range mappingValues(n) {
		if mv == nil || mv.Key == nil {
			continue
		}
		keyAt := d.nodePos(mv.Key)
		if mv.Key.IsMergeKey() {
			merges = append(merges, mv.Value)
			continue
		}
		k, ok := d.keyText(mv.Key)
		if !ok {
			d.report(path, keyAt, false, "a mapping key must be a string, not %s", describe(mv.Key))
			continue
		}
		if p, dup := first[k]; dup {
			d.report(join(path, k), keyAt, false, "duplicate key %q (first at line %d)", k, p.line)
			continue
		}
		first[k] = keyAt
		out = append(out, entry{key: k, keyAt: keyAt, value: mv.Value})
	}
	for _, m := range merges {
		for _, e := range d.mergeEntries(path, m) {
			if _, given := first[e.key]; !given {
				first[e.key] = e.keyAt
				out = append(out, e)
			}
		}
	}
	return out
}

func (d *decoder) mergeEntries(path string, m ast.Node) []entry {
	at := d.nodePos(m)
	r, release, ok := d.enter(path, at, m)
	if !ok {
		return nil
	}
	defer release()
	if isMapping(r) {
		return d.entries(path, r)
	}
	seq, isSeq := r.(*ast.SequenceNode)
	if !isSeq {
		d.report(path, at, true, "<< merges a mapping or a list of mappings, not %s", describe(r))
		return nil
	}
	var out []entry
	for _, el := range seq.Values {
		elAt := d.nodePos(el)
		rr, rel, ok := d.enter(path, elAt, el)
		if !ok {
			continue
		}
		if isMapping(rr) {
			out = append(out, d.entries(path, rr)...)
		} else {
			d.report(path, elAt, true, "<< merges mappings, not %s", describe(rr))
		}
		rel()
	}
	return out
}

// keyText is a mapping key as a string: a scalar's text.
func (d *decoder) keyText(k ast.Node) (string, bool) {
	for range 10 { // aliases of aliases, bounded
		switch x := k.(type) {
		case *ast.MappingKeyNode:
			k = x.Value
		case *ast.AnchorNode:
			k = x.Value
		case *ast.TagNode:
			k = x.Value
		case *ast.AliasNode:
			_, a := d.anchorFor(x)
			if a == nil {
				return "", false
			}
			k = a.Value
		case *ast.StringNode, *ast.LiteralNode:
			return stringValue(x)
		case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode, *ast.NullNode:
			if tk := x.GetToken(); tk != nil {
				return tk.Value, true
			}
			return "", false
		default:
			return "", false
		}
	}
	return "", false
}

// decode stores the value of n, found at path (keyAt is where its key is, when it has one),
// into rv. nullOK says whether null may stand for "not given" there (a struct field) or is
// a type error (a list element or map value).
func (d *decoder) decode(path string, keyAt pos, n ast.Node, rv reflect.Value, nullOK bool) {
	at := d.nodePos(n)
	d.positions[path] = span{key: keyAt, val: at}
	n, release, ok := d.enter(path, at, n)
	if !ok {
		return
	}
	defer release()
	t := rv.Type()
	if t == taskDefType && !d.inRef && d.reference != nil {
		if _, isStr := stringValue(n); isStr {
			d.reference(path, keyAt, n, rv)
			return
		}
		if !isMapping(n) {
			d.report(path, at, true, "must be a task definition mapping or the path of a task definition file, got %s", describe(n))
			return
		}
	}
	if isNull(n) {
		if !nullOK {
			d.typeError(path, at, t, n)
		}
		return
	}
	switch t {
	case durationType:
		d.decodeDuration(path, at, n, rv)
		return
	case taskSizeType:
		switch x := n.(type) {
		case *ast.IntegerNode:
			if v, ok := intValue(x); ok {
				rv.SetString(strconv.FormatInt(v, 10))
			} else {
				rv.SetString(x.GetToken().Value) // Validate says what is wrong with it
			}
		case *ast.FloatNode:
			rv.SetString(strconv.FormatFloat(x.Value, 'f', -1, 64))
		default:
			s, isStr := stringValue(n)
			if !isStr {
				d.typeError(path, at, t, n)
				return
			}
			rv.SetString(s)
		}
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		decode := d.decodeScalarOrCompound
		if t.Elem() == durationType {
			decode = d.decodeDuration
		}
		if decode(path, at, n, p.Elem()) {
			rv.Set(p)
		}
	default:
		d.decodeScalarOrCompound(path, at, n, rv)
	}
}

// decodeDuration decodes a duration's text into rv (a hashike.Duration) and reports whether
// it was stored.
func (d *decoder) decodeDuration(path string, at pos, n ast.Node, rv reflect.Value) bool {
	s, isStr := stringValue(n)
	if !isStr {
		d.typeError(path, at, rv.Type(), n)
		return false
	}
	v, err := hashike.ParseDuration(s)
	if err != nil {
		d.report(path, at, true, "%v", err)
		return false
	}
	rv.SetInt(int64(v))
	return true
}

// decodeScalarOrCompound decodes a resolved, non-null node into rv (not a pointer). It
// reports whether the value was stored.
func (d *decoder) decodeScalarOrCompound(path string, at pos, n ast.Node, rv reflect.Value) bool {
	t := rv.Type()
	switch t.Kind() {
	case reflect.String:
		s, ok := stringValue(n)
		if !ok {
			d.typeError(path, at, t, n)
			return false
		}
		rv.SetString(s)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var v int64
		switch x := n.(type) {
		case *ast.IntegerNode:
			i, ok := intValue(x)
			if !ok {
				d.report(path, at, true, "integer %s is out of range", truncate(x.GetToken().Value))
				return false
			}
			v = i
		case *ast.FloatNode:
			if x.Value != math.Trunc(x.Value) || math.Abs(x.Value) > 1<<53 {
				d.typeError(path, at, t, n)
				return false
			}
			v = int64(x.Value)
		default:
			d.typeError(path, at, t, n)
			return false
		}
		if rv.OverflowInt(v) {
			d.report(path, at, true, "integer %d is out of range", v)
			return false
		}
		rv.SetInt(v)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		x, ok := n.(*ast.IntegerNode)
		if !ok {
			d.typeError(path, at, t, n)
			return false
		}
		var v uint64
		switch i := x.Value.(type) {
		case uint64:
			v = i
		case int64:
			if i < 0 {
				d.report(path, at, true, "must not be negative")
				return false
			}
			v = uint64(i)
		}
		if rv.OverflowUint(v) {
			d.report(path, at, true, "integer %d is out of range", v)
			return false
		}
		rv.SetUint(v)
	case reflect.Float32, reflect.Float64:
		var v float64
		switch x := n.(type) {
		case *ast.FloatNode:
			v = x.Value
		case *ast.IntegerNode:
			f, err := strconv.ParseFloat(strings.ReplaceAll(x.GetToken().Value, "_", ""), 64)
			if err != nil {
				d.typeError(path, at, t, n)
				return false
			}
			v = f
		default:
			d.typeError(path, at, t, n)
			return false
		}
		if math.IsInf(v, 0) || math.IsNaN(v) {
			d.report(path, at, true, "must be a finite number, got %s", describe(n))
			return false
		}
		rv.SetFloat(v)
	case reflect.Interface:
		if t.NumMethod() != 0 {
			d.report(path, at, true, "cannot decode into %s", t)
			return false
		}
		v, ok := d.decodeAny(path, d.positions[path].key, n)
		if !ok {
			return false
		}
		if v != nil {
			rv.Set(reflect.ValueOf(v))
		}
	case reflect.Bool:
		b, ok := n.(*ast.BoolNode)
		if !ok {
			d.typeError(path, at, t, n)
			return false
		}
		rv.SetBool(b.Value)
	case reflect.Slice:
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			d.typeError(path, at, t, n)
			return false
		}
		s := reflect.MakeSlice(t, len(seq.Values), len(seq.Values))
		for i, el := range seq.Values {
			d.decode(fmt.Sprintf("%s[%d]", path, i), pos{}, el, s.Index(i), false)
		}
		rv.Set(s)
	case reflect.Map:
		if !isMapping(n) || t.Key().Kind() != reflect.String {
			d.typeError(path, at, t, n)
			return false
		}
		m := reflect.MakeMap(t)
		for _, e := range d.entries(path, n) {
			v := reflect.New(t.Elem()).Elem()
			d.decode(join(path, e.key), e.keyAt, e.value, v, false)
			m.SetMapIndex(reflect.ValueOf(e.key).Convert(t.Key()), v)
		}
		rv.Set(m)
	case reflect.Struct:
		if !isMapping(n) {
			d.typeError(path, at, t, n)
			return false
		}
		d.decodeStruct(path, n, rv)
	default:
		d.report(path, at, true, "cannot decode into %s", t)
		return false
	}
	return true
}

func intValue(n *ast.IntegerNode) (int64, bool) {
	switch v := n.Value.(type) {
	case int64:
		return v, true
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v), true
		}
	case int:
		return int64(v), true
	}
	return 0, false
}

func (d *decoder) decodeStruct(path string, n ast.Node, rv reflect.Value) {
	t := rv.Type()
	info := d.structInfo(t)
	for _, e := range d.entries(path, n) {
		fp := join(path, e.key)
		if index, ok := info.fields[e.key]; ok {
			d.decode(fp, e.keyAt, e.value, fieldAt(rv, index), true)
			continue
		}
		if info.extraNames[e.key] {
			v, ok := d.decodeAny(fp, e.keyAt, e.value)
			if ok {
				ev := rv.Field(info.extra)
				if ev.IsNil() {
					ev.Set(reflect.MakeMap(extraType))
				}
				ev.SetMapIndex(reflect.ValueOf(e.key), reflect.ValueOf(&v).Elem())
			}
			continue
		}
		d.report(fp, e.keyAt, false, "%s", d.unknownField(t, e.key))
	}
}

func (d *decoder) unknownField(t reflect.Type, key string) string {
	msg := fmt.Sprintf("unknown field %q", key)
	if t == taskDefType && key == "taskDefinition" {
		return msg + " (this looks like describe-task-definition output: use the mapping under its taskDefinition key)"
	}
	if s := suggest(key, d.structInfo(t).candidates); s != "" {
		return msg + fmt.Sprintf(" (did you mean %q?)", s)
	}
	accepts := func(t reflect.Type) bool {
		info := d.structInfo(t)
		_, ok := info.fields[key]
		return ok || info.extraNames[key]
	}
	switch {
	case d.holdsTaskDefinition(t) && accepts(taskDefType):
		return msg + " (task definition fields go under taskDefinition)"
	case t == taskDefType && accepts(containerDefType):
		return msg + " (container fields go under containerDefinitions)"
	}
	return msg
}

// holdsTaskDefinition reports whether t is a job file's top level: a JobSpec, or a struct
// embedding one.
func (d *decoder) holdsTaskDefinition(t reflect.Type) bool {
	index, ok := d.structInfo(t).fields["taskDefinition"]
	return ok && t.FieldByIndex(index).Type == taskDefType
}

// decodeAny decodes n into plain Go values (map[string]any, []any, string, int64, float64,
// bool, nil), as JSON would, for an Extra field.
func (d *decoder) decodeAny(path string, keyAt pos, n ast.Node) (any, bool) {
	at := d.nodePos(n)
	d.positions[path] = span{key: keyAt, val: at}
	n, release, ok := d.enter(path, at, n)
	if !ok {
		return nil, false
	}
	defer release()
	switch x := n.(type) {
	case nil, *ast.NullNode:
		return nil, true
	case *ast.StringNode, *ast.LiteralNode:
		s, _ := stringValue(x)
		return s, true
	case *ast.IntegerNode:
		if v, ok := intValue(x); ok {
			return v, true
		}
		f, err := strconv.ParseFloat(strings.ReplaceAll(x.GetToken().Value, "_", ""), 64)
		if err != nil {
			d.report(path, at, true, "integer %s is out of range", truncate(x.GetToken().Value))
			return nil, false
		}
		return f, true
	case *ast.FloatNode:
		if math.IsInf(x.Value, 0) || math.IsNaN(x.Value) {
			d.report(path, at, true, "must be a finite number, got %s", describe(x))
			return nil, false
		}
		return x.Value, true
	case *ast.InfinityNode, *ast.NanNode:
		d.report(path, at, true, "must be a finite number, got %s", describe(x))
		return nil, false
	case *ast.BoolNode:
		return x.Value, true
	case *ast.SequenceNode:
		out := make([]any, 0, len(x.Values))
		good := true
		for i, el := range x.Values {
			v, ok := d.decodeAny(fmt.Sprintf("%s[%d]", path, i), pos{}, el)
			good = good && ok
			out = append(out, v)
		}
		return out, good
	case *ast.MappingNode, *ast.MappingValueNode:
		out := map[string]any{}
		good := true
		for _, e := range d.entries(path, x) {
			v, ok := d.decodeAny(join(path, e.key), e.keyAt, e.value)
			good = good && ok
			out[e.key] = v
		}
		return out, good
	}
	d.report(path, at, true, "unsupported value: %s", describe(n))
	return nil, false
}
