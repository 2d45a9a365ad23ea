package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/archive"
	"github.com/hashike/hashike/objectfs"
	"github.com/hashike/hashike/objects3"
)

// objectsLocation is where the server keeps objects (the log archive): --objects or
// HASHIKE_OBJECTS, a directory or s3://BUCKET/PREFIX; by default the directory objects next to
// the server's SQLite database.
func (a *app) objectsLocation() string {
	if a.objectsPath != "" {
		return a.objectsPath
	}
	if v := a.env("HASHIKE_OBJECTS"); v != "" {
		return v
	}
	db := a.serverDatabase()
	if isPostgres(db) {
		return filepath.Join(filepath.Dir(a.database()), "objects")
	}
	return filepath.Join(filepath.Dir(db), "objects")
}

// openObjects opens the object store at objectsLocation. S3 takes the AWS SDK's configuration
// (region, credentials; AWS_ENDPOINT_URL_S3 for an S3-compatible endpoint).
func (a *app) openObjects(ctx context.Context) (hashike.ObjectStore, error) {
	loc := a.objectsLocation()
	if rest, ok := strings.CutPrefix(loc, "s3://"); ok {
		bucket, prefix, _ := strings.Cut(rest, "/")
		cfg, err := awsConfig(ctx)
		if err != nil {
			return nil, err
		}
		return objects3.New(cfg, objects3.Config{Bucket: bucket, Prefix: prefix, PathStyle: a.env("HASHIKE_S3_PATH_STYLE") == "true"})
	}
	s, err := objectfs.Open(loc)
	if err != nil {
		return nil, fmt.Errorf("open the object store %s: %w", loc, err)
	}
	return s, nil
}

// serverArchive is the server's log archive, wired.
type serverArchive struct {
	logs   hashike.LogStore
	search hashike.LogSearcher
	loops  []func(context.Context)
}

// logArchive wires the log archive over the server's database (db, whose index role it uses;
// st is db as the server sees it) and object store.
func (a *app) logArchive(ctx context.Context, db hashike.ServerStore, st hashike.ServerStore, f archiveFlags, logger *slog.Logger) (serverArchive, error) {
	index, ok := db.(hashike.LogArchiveIndex)
	if !ok {
		return serverArchive{}, fmt.Errorf("the server database keeps no log archive index")
	}
	objects, err := a.openObjects(ctx)
	if err != nil {
		return serverArchive{}, err
	}
	arch := &archive.Archiver{Runs: st, Logs: st, Index: index, Objects: objects, SegmentBytes: f.segmentBytes}
	roll := f.rollEvery
	if roll <= 0 {
		roll = -1 // never
	}
	loop := &archive.Loop{Archiver: arch, Index: index, Runs: st, Clock: a.clock, Log: logger,
		Interval: f.interval, RollEvery: roll}
	return serverArchive{
		logs:   &archive.Logs{DB: st, Index: index, Objects: objects},
		search: &archive.Searcher{Objects: objects, Runs: st},
		loops:  []func(context.Context){loop.Run},
	}, nil
}
