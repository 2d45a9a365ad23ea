package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/archive"
	"github.com/hashike/hashike/objectfs"
	"github.com/hashike/hashike/objects3"
)

// objectStoreConfig is c with --objects (env HASHIKE_OBJECTS) applied: a directory, or
// s3://BUCKET/PREFIX (the config's other S3 settings, such as region and pathStyle, still
// apply), replaces the location the config file gives.
func (a *app) objectStoreConfig(c ObjectStoreConfig) ObjectStoreConfig {
	loc := a.objectsPath
	if loc == "" {
		loc = a.env("HASHIKE_OBJECTS")
	}
	if loc == "" {
		return c
	}
	if rest, ok := strings.CutPrefix(loc, "s3://"); ok {
		c.Dir = ""
		c.S3.Bucket, c.S3.Prefix, _ = strings.Cut(rest, "/")
		return c
	}
	c.Dir, c.S3 = loc, S3Config{}
	return c
}

// serverObjects opens the server's object store (payloads, results, the log archive): S3 when
// --objects or the config names a bucket, else the local filesystem (--objects,
// objectStore.dir, default objects/ beside the server's SQLite database or in the state
// directory). The local one gives no URLs: runs on ECS then get no payload by reference and no
// result URL.
func (a *app) serverObjects(ctx context.Context, c ObjectStoreConfig) (hashike.ObjectStore, hashike.ObjectURLs, error) {
	if a.objectStore != nil {
		s, u := a.objectStore()
		return s, u, nil
	}
	c = a.objectStoreConfig(c)
	if c.S3.Bucket != "" {
		cfg, err := a.awsConfig(ctx)
		if err != nil {
			return nil, nil, err
		}
		if c.S3.Region != "" {
			cfg = cfg.Copy()
			cfg.Region = c.S3.Region
		}
		s, err := newS3Objects(cfg, c.S3)
		if err != nil {
			return nil, nil, err
		}
		return s, s, nil
	}
	dir := c.Dir
	if dir == "" {
		dir = a.defaultObjectsDir()
	}
	s, err := objectfs.Open(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("open the object store %s: %w", dir, err)
	}
	return s, nil, nil
}

// defaultObjectsDir is the local object store's directory when neither --objects nor the
// config names one: objects/ beside the server's SQLite database; with PostgreSQL, whose
// connection string is no path, objects/ in the state directory.
func (a *app) defaultObjectsDir() string {
	if db := a.serverDatabase(); !isPostgres(db) {
		return filepath.Join(filepath.Dir(db), "objects")
	}
	return filepath.Join(a.stateDir(), "objects")
}

func newS3Objects(cfg aws.Config, c S3Config) (*objects3.Store, error) {
	return objects3.New(cfg, objects3.Config{Bucket: c.Bucket, Prefix: c.Prefix, PathStyle: c.PathStyle, PartSize: c.PartSize})
}

// serverArchive is the server's log archive, wired.
type serverArchive struct {
	archiver *archive.Archiver
	objects  hashike.ObjectStore
	logs     hashike.LogStore
	search   hashike.LogSearcher
	loops    []func(context.Context)
}

// logArchive wires the log archive over the server's database (db, whose index role it uses;
// st is db as the server sees it) and object store.
func (a *app) logArchive(db hashike.ServerStore, st hashike.ServerStore, objects hashike.ObjectStore, f archiveFlags, logger *slog.Logger) (serverArchive, error) {
	index, ok := db.(hashike.LogArchiveIndex)
	if !ok {
		return serverArchive{}, fmt.Errorf("the server database keeps no log archive index")
	}
	arch := &archive.Archiver{Runs: st, Logs: st, Index: index, Objects: objects, SegmentBytes: f.segmentBytes}
	roll := f.rollEvery
	if roll <= 0 {
		roll = -1 // never
	}
	loop := &archive.Loop{Archiver: arch, Index: index, Runs: st, Clock: a.clock, Log: logger,
		Interval: f.interval, RollEvery: roll}
	return serverArchive{
		archiver: arch, objects: objects,
		logs:   &archive.Logs{DB: st, Index: index, Objects: objects},
		search: &archive.Searcher{Objects: objects, Runs: st},
		loops:  []func(context.Context){loop.Run},
	}, nil
}
