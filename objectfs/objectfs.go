// Package objectfs is the local filesystem's hashike.ObjectStore: the embedded default, under
// the server's state directory. It imports only the standard library.
//
// Layout under the store's directory:
//
//	objects/KEY   one file per object: a header line, then the object's bytes
//	tmp/          Puts in progress (removed at Open when older than an hour)
//
// The header line is "hashike-object/1 " followed by a JSON object with the content type and
// encoding, then "\n"; keeping it in the object's own file makes a Put one atomic rename (temp
// file, fsync, rename, fsync of the directory): a reader sees the old object or the new one,
// never a mix, and no crash leaves a body without its metadata. `tail -n +2 FILE` gives the
// body.
//
// A key cannot be both an object and a whole-segment prefix of another key ("a" and "a/b"): the
// second Put fails with EConflict.
package objectfs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hashike/hashike"
)

var _ hashike.ObjectStore = (*Store)(nil)

const (
	magic     = "hashike-object/1 "
	maxHeader = 4096
	// tmpMaxAge: temp files older than this at Open are leftovers of a crash.
	tmpMaxAge = time.Hour
)

// Store is an ObjectStore in a local directory.
type Store struct {
	objects string
	tmp     string
}

// Open opens (creating when needed) the store in dir.
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("object store %s: %w", dir, err)
	}
	s := &Store{objects: filepath.Join(abs, "objects"), tmp: filepath.Join(abs, "tmp")}
	for _, d := range []string{s.objects, s.tmp} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("object store: %w", err)
		}
	}
	s.removeStaleTemps(time.Now())
	return s, nil
}

// Dir returns the directory under which objects are stored, one file per key.
func (s *Store) Dir() string { return s.objects }

func (s *Store) removeStaleTemps(now time.Time) {
	entries, err := os.ReadDir(s.tmp)
	if err != nil {
		return
	}
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && now.Sub(fi.ModTime()) > tmpMaxAge {
			_ = os.Remove(filepath.Join(s.tmp, e.Name()))
		}
	}
}

func (s *Store) path(key string) string {
	return filepath.Join(s.objects, filepath.FromSlash(key))
}

type header struct {
	ContentType     string `json:"contentType,omitempty"`
	ContentEncoding string `json:"contentEncoding,omitempty"`
}

// ctxReader fails a copy as soon as its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Put writes the object to a temp file, syncs it and renames it over the key's file.
func (s *Store) Put(ctx context.Context, key string, body io.Reader, size int64, opts hashike.PutOptions) error {
	if err := hashike.ValidateObjectKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	hdr, err := json.Marshal(header{ContentType: opts.ContentType, ContentEncoding: opts.ContentEncoding})
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if len(magic)+len(hdr)+1 > maxHeader {
		return hashike.Errorf(hashike.EInvalid, "put %s: content type and encoding longer than %d bytes", key, maxHeader-64)
	}
	f, err := os.CreateTemp(s.tmp, "put-*")
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	tmp := f.Name()
	done := false
	defer func() {
		if !done {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.WriteString(magic + string(hdr) + "\n"); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	r := ctxReader{ctx: ctx, r: body}
	if size >= 0 {
		n, err := io.CopyN(f, r, size)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return hashike.Errorf(hashike.EInvalid, "put %s: body has %d bytes, size says %d", key, n, size)
			}
			return fmt.Errorf("put %s: %w", key, err)
		}
		var one [1]byte
		if k, _ := io.ReadFull(r, one[:]); k > 0 {
			return hashike.Errorf(hashike.EInvalid, "put %s: body is longer than its size %d", key, size)
		}
	} else if _, err := io.Copy(f, r); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	dst := s.path(key)
	// A concurrent Delete may remove the (then empty) parent between MkdirAll and Rename:
	// try again.
	for attempt := 0; ; attempt++ {
		if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
			if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) {
				return hashike.Errorf(hashike.EConflict, "put %s: a part of the key is an object already", key)
			}
			return fmt.Errorf("put %s: %w", key, err)
		}
		err := os.Rename(tmp, dst)
		if err == nil {
			break
		}
		if errors.Is(err, fs.ErrNotExist) && attempt < 10 {
			continue
		}
		if fi, serr := os.Lstat(dst); serr == nil && fi.IsDir() {
			return hashike.Errorf(hashike.EConflict, "put %s: the key is a prefix of other objects", key)
		}
		return fmt.Errorf("put %s: %w", key, err)
	}
	done = true
	if d, err := os.Open(filepath.Dir(dst)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// open opens the key's file and reads its header.
func (s *Store) open(key string) (*os.File, hashike.ObjectInfo, error) {
	if err := hashike.ValidateObjectKey(key); err != nil {
		return nil, hashike.ObjectInfo{}, err
	}
	f, err := os.Open(s.path(key))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, hashike.ObjectInfo{}, hashike.Errorf(hashike.ENotFound, "object %s not found", key)
		}
		return nil, hashike.ObjectInfo{}, fmt.Errorf("open object %s: %w", key, err)
	}
	info, err := readInfo(f, key)
	if err != nil {
		_ = f.Close()
		return nil, hashike.ObjectInfo{}, err
	}
	return f, info, nil
}

// readInfo reads the header of an open object file and leaves the file at the body's start.
func readInfo(f *os.File, key string) (hashike.ObjectInfo, error) {
	fi, err := f.Stat()
	if err != nil {
		return hashike.ObjectInfo{}, fmt.Errorf("stat object %s: %w", key, err)
	}
	if fi.IsDir() {
		return hashike.ObjectInfo{}, hashike.Errorf(hashike.ENotFound, "object %s not found", key)
	}
	buf := make([]byte, maxHeader)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return hashike.ObjectInfo{}, fmt.Errorf("read object %s: %w", key, err)
	}
	buf = buf[:n]
	nl := bytes.IndexByte(buf, '\n')
	if !bytes.HasPrefix(buf, []byte(magic)) || nl < 0 {
		return hashike.ObjectInfo{}, fmt.Errorf("object %s: not a hashike object file (no header line)", key)
	}
	var h header
	if err := json.Unmarshal(buf[len(magic):nl], &h); err != nil {
		return hashike.ObjectInfo{}, fmt.Errorf("object %s: header: %w", key, err)
	}
	if _, err := f.Seek(int64(nl+1), io.SeekStart); err != nil {
		return hashike.ObjectInfo{}, fmt.Errorf("read object %s: %w", key, err)
	}
	return hashike.ObjectInfo{
		Key:             key,
		Size:            fi.Size() - int64(nl+1),
		Modified:        fi.ModTime(),
		ContentType:     h.ContentType,
		ContentEncoding: h.ContentEncoding,
	}, nil
}

// Get opens the object. The open file keeps the version read even if a Put replaces it.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, hashike.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, hashike.ObjectInfo{}, err
	}
	f, info, err := s.open(key)
	if err != nil {
		return nil, hashike.ObjectInfo{}, err
	}
	return f, info, nil
}

// Stat reads the object's header.
func (s *Store) Stat(ctx context.Context, key string) (hashike.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return hashike.ObjectInfo{}, err
	}
	f, info, err := s.open(key)
	if err != nil {
		return hashike.ObjectInfo{}, err
	}
	_ = f.Close()
	return info, nil
}

// Delete removes the objects, then the directories their removal left empty.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		if err := hashike.ValidateObjectKey(k); err != nil {
			return err
		}
	}
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := s.path(k)
		fi, err := os.Lstat(p)
		if err != nil || fi.IsDir() {
			continue // no object of that key (a directory is a prefix of other keys)
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete object %s: %w", k, err)
		}
		for d := filepath.Dir(p); d != s.objects && strings.HasPrefix(d, s.objects); d = filepath.Dir(d) {
			if os.Remove(d) != nil {
				break // not empty (or already gone)
			}
		}
	}
	return nil
}

// List walks the directories under the prefix in key order, one directory's names in memory
// at a time.
func (s *Store) List(ctx context.Context, prefix string, fn func(hashike.ObjectInfo) error) error {
	if err := hashike.ValidateObjectPrefix(prefix); err != nil {
		return err
	}
	dir, partial := "", prefix
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dir, partial = prefix[:i+1], prefix[i+1:]
	}
	return s.walk(ctx, dir, partial, fn)
}

// walk lists the objects in the directory of keys starting with dirKey ("" or ending in "/")
// whose next segment starts with partial.
func (s *Store) walk(ctx context.Context, dirKey, partial string, fn func(hashike.ObjectInfo) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	entries, err := os.ReadDir(filepath.Join(s.objects, filepath.FromSlash(dirKey)))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		return fmt.Errorf("list objects %s: %w", dirKey, err)
	}
	// Keys sort by bytes: a directory "a" sorts as "a/", after "a-b" and before "a0".
	sortName := func(e fs.DirEntry) string {
		if e.IsDir() {
			return e.Name() + "/"
		}
		return e.Name()
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(sortName(a), sortName(b)) })
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), partial) {
			continue
		}
		key := dirKey + e.Name()
		if e.IsDir() {
			if err := s.walk(ctx, key+"/", "", fn); err != nil {
				return err
			}
			continue
		}
		if !e.Type().IsRegular() {
			continue
		}
		f, err := os.Open(filepath.Join(s.objects, filepath.FromSlash(key)))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted since the directory was read
			}
			return fmt.Errorf("list objects: %w", err)
		}
		info, err := readInfo(f, key)
		_ = f.Close()
		if err != nil {
			return fmt.Errorf("list objects: %w", err)
		}
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}
