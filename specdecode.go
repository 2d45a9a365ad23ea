package hashike

import (
	"encoding/json"
	"reflect"
	"sync"
)

// Decoding stored specs. Every read of a run decodes its spec, and a run's life in the server
// reads it four or five times, most of them within milliseconds of its dispatch (the claim,
// the start, the end of a short task). So DecodeSpec keeps the specs it decoded last and
// answers a repeat with a deep copy of the decoded value, which costs a fraction of decoding
// the JSON again (BenchmarkDecodeSpec). The copy shares no memory with the kept value or with
// other copies: a caller may change its run's Spec as freely as a freshly decoded one.
const (
	// specCacheEntries and specCacheBytes (of JSON) bound each of the cache's two
	// generations: when the newer is full, it becomes the older and the older is dropped,
	// so the specs used last are kept.
	specCacheEntries = 512
	specCacheBytes   = 2 << 20
	// specCacheMaxBytes is the largest spec kept: a bigger one is decoded every time.
	specCacheMaxBytes = 64 << 10
)

var specCache struct {
	mu           sync.Mutex
	newer, older map[string]JobSpec
	newerBytes   int
}

// DecodeSpec decodes a stored spec (a JobSpec as json.Marshal wrote it) into a value
// of the caller's own, as json.Unmarshal would.
func DecodeSpec(b []byte) (JobSpec, error) {
	specCache.mu.Lock()
	kept, ok := specCache.newer[string(b)]
	if !ok {
		if kept, ok = specCache.older[string(b)]; ok {
			keepSpec(string(b), kept)
		}
	}
	specCache.mu.Unlock()
	if ok {
		return deepCopy(kept), nil
	}
	var t JobSpec
	if err := json.Unmarshal(b, &t); err != nil {
		return JobSpec{}, err
	}
	if len(b) <= specCacheMaxBytes {
		kept := deepCopy(t)
		specCache.mu.Lock()
		keepSpec(string(b), kept)
		specCache.mu.Unlock()
	}
	return t, nil
}

// keepSpec adds a decoded spec to the newer generation, turning generations when it is full.
// specCache.mu must be held.
func keepSpec(b string, t JobSpec) {
	if specCache.newer == nil || len(specCache.newer) >= specCacheEntries || specCache.newerBytes+len(b) > specCacheBytes {
		specCache.older, specCache.newer = specCache.newer, make(map[string]JobSpec, specCacheEntries)
		specCache.newerBytes = 0
	}
	specCache.newer[b] = t
	specCache.newerBytes += len(b)
}

// deepCopy copies v and everything it points to. The spec types have exported fields only
// (TestDeepCopySpec walks them), which reflection can set.
func deepCopy[T any](v T) T {
	var out T
	copyValue(reflect.ValueOf(&out).Elem(), reflect.ValueOf(&v).Elem())
	return out
}

// copyValue sets dst, a settable zero value of src's type, to a deep copy of src.
func copyValue(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Pointer:
		if !src.IsNil() {
			p := reflect.New(src.Type().Elem())
			copyValue(p.Elem(), src.Elem())
			dst.Set(p)
		}
	case reflect.Slice:
		if !src.IsNil() {
			s := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
			for i := range src.Len() {
				copyValue(s.Index(i), src.Index(i))
			}
			dst.Set(s)
		}
	case reflect.Array:
		for i := range src.Len() {
			copyValue(dst.Index(i), src.Index(i))
		}
	case reflect.Map:
		if !src.IsNil() {
			m := reflect.MakeMapWithSize(src.Type(), src.Len())
			for it := src.MapRange(); it.Next(); {
				k := reflect.New(src.Type().Key()).Elem()
				copyValue(k, it.Key())
				e := reflect.New(src.Type().Elem()).Elem()
				copyValue(e, it.Value())
				m.SetMapIndex(k, e)
			}
			dst.Set(m)
		}
	case reflect.Interface:
		if !src.IsNil() {
			e := reflect.New(src.Elem().Type()).Elem()
			copyValue(e, src.Elem())
			dst.Set(e)
		}
	case reflect.Struct:
		for i := range src.NumField() {
			copyValue(dst.Field(i), src.Field(i))
		}
	default: // booleans, numbers, strings: values
		dst.Set(src)
	}
}
