package hashike

import (
	"encoding/json"
	"reflect"
	"sync"
)

// SpecCache decodes stored specs, keeping the specs it decoded last. Every read of a run
// decodes its spec, and a run's life in the server reads it four or five times, most of them
// within milliseconds of its dispatch (the claim, the start, the end of a short task). A
// repeat is answered with a deep copy of the decoded value, which costs a fraction of
// decoding the JSON again (BenchmarkDecodeSpec). The copy shares no memory with the kept
// value or with other copies: a caller may change its run's Spec as freely as a freshly
// decoded one. The zero value is ready to use; a Store keeps one. It is safe for concurrent
// use.
type SpecCache struct {
	mu           sync.Mutex
	newer, older map[string]JobSpec
	newerBytes   int
}

const (
	// specCacheEntries and specCacheBytes (of JSON) bound each of a SpecCache's two
	// generations: when the newer is full, it becomes the older and the older is dropped,
	// so the specs used last are kept.
	specCacheEntries = 512
	specCacheBytes   = 2 << 20
	// specCacheMaxBytes is the largest spec kept: a bigger one is decoded every time.
	specCacheMaxBytes = 64 << 10
)

// Decode decodes a stored spec (a JobSpec as json.Marshal wrote it) into a value of the
// caller's own, as json.Unmarshal would.
func (c *SpecCache) Decode(b []byte) (JobSpec, error) {
	c.mu.Lock()
	kept, ok := c.newer[string(b)]
	if !ok {
		if kept, ok = c.older[string(b)]; ok {
			c.keep(string(b), kept)
		}
	}
	c.mu.Unlock()
	if ok {
		return deepCopy(kept), nil
	}
	var t JobSpec
	if err := json.Unmarshal(b, &t); err != nil {
		return JobSpec{}, err
	}
	if len(b) <= specCacheMaxBytes {
		kept := deepCopy(t)
		c.mu.Lock()
		c.keep(string(b), kept)
		c.mu.Unlock()
	}
	return t, nil
}

// keep adds a decoded spec to the newer generation, turning generations when it is full.
// c.mu must be held.
func (c *SpecCache) keep(b string, t JobSpec) {
	if c.newer == nil || len(c.newer) >= specCacheEntries || c.newerBytes+len(b) > specCacheBytes {
		c.older, c.newer = c.newer, make(map[string]JobSpec, specCacheEntries)
		c.newerBytes = 0
	}
	c.newer[b] = t
	c.newerBytes += len(b)
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
