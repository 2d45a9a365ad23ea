package ecs

import (
	"bytes"
	"context"
	"encoding/json"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/hashike/hashike"
)

// planLookupTimeout bounds a dry run's one read, retries included.
const planLookupTimeout = 10 * time.Second

// Plan says what Start would do for spec, calling only read APIs (DescribeTaskDefinition):
// whether the job's task definition would be registered or the family's latest ACTIVE
// revision reused, and the RunTask input, with the API's field names. For `--dry-run`.
// When the lookup fails (no credentials, no access), the plan says so and still shows the
// RunTask input.
func (b *Backend) Plan(ctx context.Context, spec *hashike.JobSpec) (map[string]any, error) {
	in, overrides, err := Registration(spec, b.defaultLog)
	if err != nil {
		return nil, err
	}
	key, err := Canonical(in)
	if err != nil {
		return nil, err
	}
	family := spec.TaskDefinition.Family
	td := map[string]any{"family": family}
	lookupCtx, cancel := context.WithTimeout(ctx, planLookupTimeout)
	defer cancel()
	arn, lookupErr := b.reusable(lookupCtx, in, key)
	switch {
	case lookupErr != nil:
		td["action"] = "unknown: cannot read the family's latest revision"
		td["error"] = lookupErr.Error()
		arn = family
	case arn != "" && len(overrides) > 0:
		td["action"] = "reuse, with containerOverrides"
		td["taskDefinitionArn"] = arn
	case arn != "":
		td["action"] = "reuse"
		td["taskDefinitionArn"] = arn
	default:
		td["action"] = "register a new revision"
		arn = family + ":<new revision>"
	}
	const runID = "<run id>"
	rt := runTaskInput(runID, arn, options(spec))
	if len(overrides) > 0 {
		rt.Overrides = &types.TaskOverride{ContainerOverrides: overrides}
	}
	runTask, err := apiShape(rt)
	if err != nil {
		return nil, err
	}
	runTask.(map[string]any)["clientToken"] = ClientToken(runID, 0)
	return map[string]any{"taskDefinition": td, "runTask": runTask}, nil
}

// apiShape renders an SDK input struct with the API's own field names (the SDK's with a lower
// first letter), leaving empty fields out. Only for inputs without free-form maps.
func apiShape(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var x any
	if err := d.Decode(&x); err != nil {
		return nil, err
	}
	x = lowerKeys(x)
	x, _ = prune(x)
	return x, nil
}

func lowerKeys(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, n := utf8.DecodeRuneInString(k)
			out[string(unicode.ToLower(r))+k[n:]] = lowerKeys(e)
		}
		return out
	case []any:
		for i := range x {
			x[i] = lowerKeys(x[i])
		}
	}
	return v
}
