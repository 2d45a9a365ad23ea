// Package secret resolves the values of a job's secrets for the local backend. On ECS a
// secret's valueFrom is an ARN that ECS resolves; locally hashike resolves it from two sources,
// in this order:
//
//  1. the environment variable HASHIKE_SECRET_<name>, where <name> is the secret's name (the
//     variable the container sees): HASHIKE_SECRET_DB_PASSWORD;
//  2. the secrets file: a JSON object mapping valueFrom to the value,
//     {"arn:aws:secretsmanager:...:secret:db": "s3cr3t"}. It must be readable by its owner only
//     (mode 0600 or 0400), as ssh requires of private keys; otherwise it is refused.
//
// Values are returned to the caller only; they are never logged, printed or stored.
package secret

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/hashike/hashike"
)

// EnvPrefix prefixes the environment variables that carry secret values.
const EnvPrefix = "HASHIKE_SECRET_"

// Resolve returns the value of every secret of spec by secret name. file may be "" (no
// secrets file). Every unresolvable secret is reported at once, as an EInvalid error whose
// fields name the secret's path.
func Resolve(spec *hashike.JobSpec, lookupEnv func(string) (string, bool), file string) (map[string]string, error) {
	var fromFile map[string]string
	var fileErr error
	loadFile := func() {
		if fromFile != nil || fileErr != nil || file == "" {
			return
		}
		fromFile, fileErr = readFile(file)
	}
	values := map[string]string{}
	var missing []hashike.FieldError
	for i, c := range spec.TaskDefinition.ContainerDefinitions {
		for j, s := range c.Secrets {
			if v, ok := lookupEnv(EnvPrefix + s.Name); ok {
				values[s.Name] = v
				continue
			}
			loadFile()
			if fileErr != nil {
				return nil, fileErr
			}
			if v, ok := fromFile[s.ValueFrom]; ok {
				values[s.Name] = v
				continue
			}
			where := "the environment (" + EnvPrefix + s.Name + ")"
			if file != "" {
				where += " or the secrets file " + file
			} else {
				where += "; no secrets file is configured (--secrets-file or HASHIKE_SECRETS_FILE)"
			}
			missing = append(missing, hashike.FieldError{
				Path:     fmt.Sprintf("taskDefinition.containerDefinitions[%d].secrets[%d].valueFrom", i, j),
				Severity: hashike.SeverityError,
				Message:  fmt.Sprintf("secret %s (%s) is not in %s", s.Name, s.ValueFrom, where),
			})
		}
	}
	if len(missing) > 0 {
		return nil, &hashike.Error{Code: hashike.EInvalid, Message: "unresolved secrets", Fields: missing}
	}
	return values, nil
}

func readFile(path string) (map[string]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, &hashike.Error{Code: hashike.EInvalid, Message: "secrets file", Err: err}
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, hashike.Errorf(hashike.EInvalid, "secrets file %s is accessible by others (mode %04o): run chmod 600 %s", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &hashike.Error{Code: hashike.EInvalid, Message: "secrets file", Err: err}
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		// Never echo the content: it holds secrets.
		return nil, hashike.Errorf(hashike.EInvalid, "secrets file %s must be a JSON object of strings (valueFrom -> value)", path)
	}
	return m, nil
}

// Names lists the secret names of spec, sorted (for messages that must not show values).
func Names(spec *hashike.JobSpec) []string {
	var names []string
	for _, c := range spec.TaskDefinition.ContainerDefinitions {
		for _, s := range c.Secrets {
			names = append(names, s.Name)
		}
	}
	sort.Strings(names)
	return names
}
