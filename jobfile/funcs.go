package jobfile

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/template"
)

// Lookups are the template functions that read from AWS, injected so that jobfile does not
// depend on the SDK (cmd/hashike wires them over the SDK, awsfuncs implements them). The
// caller binds them to its context. A nil function makes the template function an error
// at each call site, unless Offline is set.
type Lookups struct {
	// SSM returns the value of an SSM Parameter Store parameter, decrypted (ecspresso's
	// `ssm "/path/name"`; `ssm "/path/list" 1` takes the element 1 of a StringList).
	SSM func(name string) (string, error)
	// SecretARN returns the ARN of a Secrets Manager secret given its name or ARN
	// (ecspresso's `secretsmanager_arn "name"`).
	SecretARN func(name string) (string, error)
	// ReadS3 returns the object bucket/key: a Terraform state named s3://bucket/key.
	ReadS3 func(bucket, key string) ([]byte, error)
	// Offline renders a placeholder where a lookup is nil, rather than an error, and drops
	// the problems of the placeholder's line (a placeholder is not the value it stands
	// for): `hashike validate` without --check-aws.
	Offline bool
}

// TFStateEnv names the Terraform states that tfstate and tfstatef read: a path (relative
// to the current directory) or s3://bucket/key, or several separated by commas, each but
// one with a prefix for its functions' names, as ecspresso's func_prefix:
// HASHIKE_TFSTATE=terraform.tfstate,network_=s3://states/network.tfstate defines tfstate,
// tfstatef, network_tfstate and network_tfstatef.
const TFStateEnv = "HASHIKE_TFSTATE"

// offlineSecretARN is the placeholder of secretsmanager_arn offline: an ARN of the right shape.
const offlineSecretARN = "arn:aws:secretsmanager:us-east-1:000000000000:secret:"

// callFailure is a template function's call that could not produce its value: rendering
// goes on with "" in its place, so that every failure is reported.
type callFailure struct {
	fn, arg string // the function and its first argument
	message string
	// placeholder: not a failure, a stand-in value; the problems of its line are dropped.
	placeholder bool
}

// funcs holds the state of the template functions of one render.
type funcs struct {
	lookupEnv func(string) (string, bool)
	lookups   Lookups
	failures  []callFailure
	// cache is shared by the renders of one load (and Inspect's two), so that each
	// parameter, secret and state is asked for once.
	cache *lookupCache
}

// lookupCache keeps the answers of the lookups.
type lookupCache struct {
	ssm       map[string]ssmResult
	secrets   map[string]ssmResult
	states    map[string]*tfState
	stateErrs map[string]error
}

func newLookupCache() *lookupCache {
	return &lookupCache{ssm: map[string]ssmResult{}, secrets: map[string]ssmResult{}, states: map[string]*tfState{}, stateErrs: map[string]error{}}
}

func (f *funcs) c() *lookupCache {
	if f.cache == nil {
		f.cache = newLookupCache()
	}
	return f.cache
}

type ssmResult struct {
	value string
	err   error
}

// builtinFuncs are text/template's own functions.
var builtinFuncs = map[string]bool{
	"and": true, "call": true, "html": true, "index": true, "slice": true, "js": true, "len": true,
	"not": true, "or": true, "print": true, "printf": true, "println": true, "urlquery": true,
	"eq": true, "ge": true, "gt": true, "le": true, "lt": true, "ne": true,
}

func (f *funcs) fail(fn, arg, format string, args ...any) {
	f.failures = append(f.failures, callFailure{fn: fn, arg: arg, message: fn + ": " + fmt.Sprintf(format, args...)})
}

func (f *funcs) placeholder(fn, arg string) {
	f.failures = append(f.failures, callFailure{fn: fn, arg: arg, placeholder: true})
}

// funcMap is every template function of a job file: ecspresso's.
func (f *funcs) funcMap() (template.FuncMap, error) {
	m := template.FuncMap{
		// env is ecspresso's: the variable's value when set and not empty, else the default.
		"env": func(name string, def ...string) (string, error) {
			if len(def) > 1 {
				return "", fmt.Errorf("env takes a variable name and at most one default, got %d arguments", 1+len(def))
			}
			if v, ok := f.lookupEnv(name); ok && v != "" {
				return v, nil
			}
			if len(def) == 1 {
				return def[0], nil
			}
			return "", nil
		},
		// must_env records a miss rather than failing, so that every miss is reported.
		"must_env": func(name string) string {
			if v, ok := f.lookupEnv(name); ok {
				return v
			}
			f.failures = append(f.failures, callFailure{fn: "must_env", arg: name, message: fmt.Sprintf("must_env: environment variable %q is not set", name)})
			return ""
		},
		// json_escape is the string as JSON writes it, without the outer quotes.
		"json_escape":        jsonEscape,
		"ssm":                f.ssm,
		"secretsmanager_arn": f.secretARN,
	}
	v, _ := f.lookupEnv(TFStateEnv)
	for entry := range strings.SplitSeq(v, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		prefix, location := "", entry
		if i := strings.Index(entry, "="); i >= 0 {
			prefix, location = entry[:i], entry[i+1:]
		}
		if _, dup := m[prefix+"tfstate"]; dup {
			return nil, fmt.Errorf("%s: two states for the prefix %q", TFStateEnv, prefix)
		}
		name := prefix + "tfstate"
		m[name] = func(addr string) string { return f.tfstate(name, location, addr, addr) }
		namef := prefix + "tfstatef"
		m[namef] = func(format string, args ...any) string {
			return f.tfstate(namef, location, format, fmt.Sprintf(format, args...))
		}
	}
	if _, ok := m["tfstate"]; !ok {
		m["tfstate"] = func(addr string) string {
			f.fail("tfstate", addr, "no Terraform state: set %s to its path or s3://BUCKET/KEY", TFStateEnv)
			return ""
		}
		m["tfstatef"] = func(format string, _ ...any) string {
			f.fail("tfstatef", format, "no Terraform state: set %s to its path or s3://BUCKET/KEY", TFStateEnv)
			return ""
		}
	}
	return m, nil
}

// jsonEscape is ecspresso's json_escape: s as a JSON string writes it, without the quotes.
func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

func (f *funcs) ssm(name string, index ...int) string {
	if len(index) > 1 {
		f.fail("ssm", name, "takes a parameter name and at most one index, got %d arguments", 1+len(index))
		return ""
	}
	if f.lookups.SSM == nil {
		if f.lookups.Offline {
			f.placeholder("ssm", name)
			return "(ssm " + name + ")"
		}
		f.fail("ssm", name, "SSM parameters are not looked up here")
		return ""
	}
	r, ok := f.c().ssm[name]
	if !ok {
		r.value, r.err = f.lookups.SSM(name)
		f.c().ssm[name] = r
	}
	if r.err != nil {
		f.fail("ssm", name, "%v", r.err)
		return ""
	}
	if len(index) == 0 {
		return r.value
	}
	list := strings.Split(r.value, ",")
	if index[0] < 0 || index[0] >= len(list) {
		f.fail("ssm", name, "index %d is out of the StringList's %d elements", index[0], len(list))
		return ""
	}
	return list[index[0]]
}

func (f *funcs) secretARN(name string) string {
	if f.lookups.SecretARN == nil {
		if f.lookups.Offline {
			f.placeholder("secretsmanager_arn", name)
			return offlineSecretARN + name
		}
		f.fail("secretsmanager_arn", name, "Secrets Manager is not looked up here")
		return ""
	}
	r, ok := f.c().secrets[name]
	if !ok {
		r.value, r.err = f.lookups.SecretARN(name)
		f.c().secrets[name] = r
	}
	if r.err != nil {
		f.fail("secretsmanager_arn", name, "%v", r.err)
		return ""
	}
	return r.value
}

// tfstate is the attribute addr of the state at location; arg is the call's first argument
// (what the failure is filed under).
func (f *funcs) tfstate(fn, location, arg, addr string) string {
	st, err := f.state(location)
	if err != nil {
		f.fail(fn, arg, "%v", err)
		return ""
	}
	if st == nil { // offline placeholder
		f.placeholder(fn, arg)
		return "(tfstate " + addr + ")"
	}
	v, err := st.lookup(addr)
	if err != nil {
		f.fail(fn, arg, "%s: %v", location, err)
		return ""
	}
	return v
}

// state reads and caches the state at location; nil, nil offline for a state in S3.
func (f *funcs) state(location string) (*tfState, error) {
	if st, ok := f.c().states[location]; ok {
		return st, f.c().stateErrs[location]
	}
	var (
		data []byte
		err  error
	)
	if rest, ok := strings.CutPrefix(location, "s3://"); ok {
		bucket, key, _ := strings.Cut(rest, "/")
		switch {
		case bucket == "" || key == "":
			err = fmt.Errorf("%s: %q is not s3://BUCKET/KEY", TFStateEnv, location)
		case f.lookups.ReadS3 == nil && f.lookups.Offline:
			return nil, nil
		case f.lookups.ReadS3 == nil:
			err = fmt.Errorf("the state %s is in S3, which is not read here", location)
		default:
			if data, err = f.lookups.ReadS3(bucket, key); err != nil {
				err = fmt.Errorf("read state %s: %w", location, err)
			}
		}
	} else if data, err = os.ReadFile(location); err != nil {
		err = fmt.Errorf("read state: %w", err)
	}
	var st *tfState
	if err == nil {
		st, err = parseTFState(data)
		if err != nil {
			err = fmt.Errorf("%s: %w", location, err)
		}
	}
	f.c().states[location], f.c().stateErrs[location] = st, err
	return st, err
}

// quoteKey writes an index key as Terraform's addresses do: [0], ["key"].
func quoteKey(k any) string {
	switch k := k.(type) {
	case string:
		return "[" + strconv.Quote(k) + "]"
	case json.Number:
		return "[" + k.String() + "]"
	}
	return fmt.Sprintf("[%v]", k)
}
