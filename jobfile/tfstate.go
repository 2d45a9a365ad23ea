package jobfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// tfState is a Terraform state (format version 4), as much of it as tfstate reads.
type tfState struct {
	Version   int                            `json:"version"`
	Outputs   map[string]struct{ Value any } `json:"outputs"`
	Resources []struct {
		Module    string `json:"module"`
		Mode      string `json:"mode"`
		Type      string `json:"type"`
		Name      string `json:"name"`
		Instances []struct {
			IndexKey   any            `json:"index_key"`
			Attributes map[string]any `json:"attributes"`
		} `json:"instances"`
	} `json:"resources"`
}

func parseTFState(data []byte) (*tfState, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var st tfState
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("not a Terraform state: %w", err)
	}
	if st.Version != 4 {
		return nil, fmt.Errorf("Terraform state format version %d; tfstate reads version 4 (Terraform 0.12 and later)", st.Version)
	}
	return &st, nil
}

// addrStep is one step of an address: a name, or an index in brackets.
type addrStep struct {
	name  string
	index any // string or json.Number, when name is ""
}

func (s addrStep) isName(n string) bool { return s.index == nil && s.name == n }

// parseAddr splits "module.a[\"k\"].aws_x.y[0].attr.list[1]" into its steps.
func parseAddr(addr string) ([]addrStep, error) {
	var steps []addrStep
	for i := 0; i < len(addr); {
		switch c := addr[i]; {
		case c == '.':
			if i == 0 || i+1 == len(addr) || addr[i+1] == '.' || addr[i+1] == '[' {
				return nil, fmt.Errorf("%q is not an address: misplaced '.' at %d", addr, i+1)
			}
			i++
		case c == '[':
			end := strings.IndexByte(addr[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("%q is not an address: '[' without ']'", addr)
			}
			// A quoted key may hold ']': find the closing quote first.
			inner := addr[i+1 : i+end]
			if len(inner) > 0 && (inner[0] == '"' || inner[0] == '\'') {
				q := inner[0]
				j := strings.IndexByte(addr[i+2:], q)
				if j < 0 || i+2+j+1 >= len(addr) || addr[i+2+j+1] != ']' {
					return nil, fmt.Errorf("%q is not an address: unterminated key at %d", addr, i+1)
				}
				steps = append(steps, addrStep{index: addr[i+2 : i+2+j]})
				i = i + 2 + j + 2
				continue
			}
			if _, err := strconv.Atoi(inner); err != nil {
				return nil, fmt.Errorf("%q is not an address: index [%s] is neither a number nor a quoted key", addr, inner)
			}
			steps = append(steps, addrStep{index: json.Number(inner)})
			i += end + 1
		default:
			j := i
			for j < len(addr) && addr[j] != '.' && addr[j] != '[' {
				j++
			}
			steps = append(steps, addrStep{name: addr[i:j]})
			i = j
		}
	}
	if len(steps) == 0 {
		return nil, errors.New("an empty address")
	}
	return steps, nil
}

// lookup is ecspresso's (tfstate-lookup's) tfstate: the value at addr, a resource's
// attribute ([module.NAME[KEY].]...[data.]TYPE.NAME[KEY].ATTR...) or an output
// (output.NAME...). Strings are themselves, other values their JSON.
func (st *tfState) lookup(addr string) (string, error) {
	steps, err := parseAddr(addr)
	if err != nil {
		return "", err
	}
	var v any
	var rest []addrStep
	if steps[0].isName("output") {
		if len(steps) < 2 || steps[1].name == "" {
			return "", fmt.Errorf("%q: output.NAME", addr)
		}
		o, ok := st.Outputs[steps[1].name]
		if !ok {
			return "", fmt.Errorf("no output %q", steps[1].name)
		}
		v, rest = o.Value, steps[2:]
	} else {
		module, i := "", 0
		for i+1 < len(steps) && steps[i].isName("module") && steps[i+1].name != "" {
			module += ".module." + steps[i+1].name
			i += 2
			if i < len(steps) && steps[i].index != nil {
				module += quoteKey(steps[i].index)
				i++
			}
		}
		module = strings.TrimPrefix(module, ".")
		mode := "managed"
		if i < len(steps) && steps[i].isName("data") {
			mode = "data"
			i++
		}
		if i+1 >= len(steps) || steps[i].name == "" || steps[i+1].name == "" {
			return "", fmt.Errorf("%q is not an address: [module.NAME.][data.]TYPE.NAME[KEY].ATTRIBUTE or output.NAME", addr)
		}
		typ, name := steps[i].name, steps[i+1].name
		i += 2
		var key any
		if i < len(steps) && steps[i].index != nil {
			key = steps[i].index
			i++
		}
		rest = steps[i:]
		what := typ + "." + name
		if mode == "data" {
			what = "data." + what
		}
		if module != "" {
			what = module + "." + what
		}
		found := false
		for _, r := range st.Resources {
			if r.Module != module || r.Mode != mode || r.Type != typ || r.Name != name {
				continue
			}
			found = true
			for _, in := range r.Instances {
				if sameKey(in.IndexKey, key) || key == nil && in.IndexKey == nil {
					v = map[string]any(in.Attributes)
				}
			}
			if v == nil && key == nil && len(r.Instances) == 1 {
				v = map[string]any(r.Instances[0].Attributes)
			}
		}
		switch {
		case !found:
			return "", fmt.Errorf("no resource %s in the state", what)
		case v == nil && key != nil:
			return "", fmt.Errorf("resource %s has no instance %s", what, quoteKey(key))
		case v == nil:
			return "", fmt.Errorf("resource %s has several instances: name one, as %s[0] or %s[\"key\"]", what, what, what)
		}
	}
	for _, s := range rest {
		switch cur := v.(type) {
		case map[string]any:
			k := s.name
			if s.index != nil {
				k = fmt.Sprint(s.index)
			}
			next, ok := cur[k]
			if !ok {
				return "", fmt.Errorf("%q: no attribute %q", addr, k)
			}
			v = next
		case []any:
			n, ok := s.index.(json.Number)
			idx, err := strconv.Atoi(string(n))
			if !ok || err != nil {
				return "", fmt.Errorf("%q: a list is indexed by a number, not %q", addr, s.name)
			}
			if idx < 0 || idx >= len(cur) {
				return "", fmt.Errorf("%q: index %d is out of the list's %d elements", addr, idx, len(cur))
			}
			v = cur[idx]
		default:
			return "", fmt.Errorf("%q: cannot take %q of a %T", addr, s.name, v)
		}
	}
	switch v := v.(type) {
	case string:
		return v, nil
	case nil:
		return "", fmt.Errorf("%q is null", addr)
	}
	b, err := json.Marshal(v)
	return string(b), err
}

func sameKey(a, b any) bool {
	if a == nil || b == nil {
		return false
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}
