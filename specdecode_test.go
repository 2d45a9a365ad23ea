package hashike

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// richSpec sets something in every kind of field a spec has: pointers, slices, maps, Extra's
// nested values.
const richSpec = `{"backend":"ecs","taskDefinition":{"family":"f","cpu":"1 vCPU","memory":"2 GB",
	"pidMode":"task","ephemeralStorage":{"sizeInGiB":30},"tags":[{"key":"team","value":"a"}],
	"volumes":[{"name":"data","host":{"sourcePath":"/srv"}}],
	"containerDefinitions":[{"name":"app","image":"img","memory":512,"essential":true,
		"command":["print","1"],"environment":[{"name":"A","value":"1"}],
		"dockerLabels":{"l":"v"},"portMappings":[{"containerPort":80}],
		"mountPoints":[{"sourceVolume":"data","containerPath":"/data"}]}]},
	"timeout":"90s","ecs":{"cluster":"c","tags":[{"key":"k","value":"v"}]}}`

// TestDecodeSpecRepeats: a spec decoded again (from the cache) equals a plain decode, and
// the values handed out share nothing: changing one changes no other, nor what the next
// decode returns.
func TestDecodeSpecRepeats(t *testing.T) {
	var want JobSpec
	if err := json.Unmarshal([]byte(richSpec), &want); err != nil {
		t.Fatal(err)
	}
	var c SpecCache
	first, err := c.Decode([]byte(richSpec))
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Decode([]byte(richSpec))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(first, want) || !reflect.DeepEqual(second, want) {
		t.Fatalf("decoded:\n%#v\n%#v\nwant\n%#v", first, second, want)
	}
	// The first decode and a repeat (a copy of the kept value) are both the caller's own.
	for _, s := range []*JobSpec{&first, &second} {
		c := &s.TaskDefinition.ContainerDefinitions[0]
		*c.Memory = 1
		*c.Essential = false
		c.Command[0] = "changed"
		c.Environment[0].Value = "changed"
		c.DockerLabels["l"] = "changed"
		c.Extra["portMappings"].([]any)[0].(map[string]any)["containerPort"] = json.Number("1")
		s.TaskDefinition.Extra["ephemeralStorage"].(map[string]any)["sizeInGiB"] = json.Number("1")
		s.TaskDefinition.Tags[0].Value = "changed"
		s.ECS.Tags[0].Value = "changed"
	}
	third, err := c.Decode([]byte(richSpec))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(third, want) {
		t.Errorf("changing decoded specs changed the next decode:\n%#v", third)
	}
}

// TestDecodeSpecErrors: bad JSON is an error every time, never kept.
func TestDecodeSpecErrors(t *testing.T) {
	var c SpecCache
	for range 2 {
		if _, err := c.Decode([]byte(`{"taskDefinition":`)); err == nil {
			t.Fatal("no error for truncated JSON")
		}
	}
}

// TestDeepCopySpec: every type a spec holds has exported fields only, which deepCopy needs
// (reflection cannot set the others).
func TestDeepCopySpec(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(ty reflect.Type) {
		if seen[ty] {
			return
		}
		seen[ty] = true
		switch ty.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
			walk(ty.Elem())
		case reflect.Struct:
			for i := range ty.NumField() {
				if f := ty.Field(i); !f.IsExported() {
					t.Errorf("%s.%s is unexported: deepCopy cannot copy it", ty, f.Name)
				} else {
					walk(f.Type)
				}
			}
		}
	}
	walk(reflect.TypeOf(JobSpec{}))
}

// BenchmarkDecodeSpecCached is BenchmarkDecodeSpec's spec decoded by a SpecCache, as the
// stores decode it: a repeat is a copy of the kept value.
func BenchmarkDecodeSpecCached(b *testing.B) {
	data := benchSpec(b)
	b.SetBytes(int64(len(data)))
	var c SpecCache
	for b.Loop() {
		if _, err := c.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDecodeSpecBounded: however many distinct specs are decoded, the cache keeps at most two
// generations of specCacheEntries specs and specCacheBytes of JSON each, and a spec decoded
// again after it was dropped decodes as before.
func TestDecodeSpecBounded(t *testing.T) {
	var c SpecCache
	first := []byte(richSpec)
	want, err := c.Decode(first)
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 16<<10)
	for i := range 3 * specCacheEntries {
		b, err := json.Marshal(JobSpec{TaskDefinition: TaskDefinition{Family: fmt.Sprintf("f%d", i),
			Tags: []Tag{{Key: "pad", Value: pad[:i%2*len(pad)]}}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Decode(b); err != nil {
			t.Fatal(err)
		}
		if i%64 != 63 {
			continue
		}
		c.mu.Lock()
		entries, bytes := len(c.newer)+len(c.older), 0
		for k := range c.newer {
			bytes += len(k)
		}
		for k := range c.older {
			bytes += len(k)
		}
		c.mu.Unlock()
		if entries > 2*specCacheEntries || bytes > 2*specCacheBytes {
			t.Fatalf("after %d specs the cache holds %d specs, %d bytes", i+1, entries, bytes)
		}
	}
	again, err := c.Decode(first)
	if err != nil || !reflect.DeepEqual(again, want) {
		t.Fatalf("a spec decoded again after it was dropped: %v, %#v", err, again)
	}
}
