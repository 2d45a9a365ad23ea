package main

import (
	"fmt"
	"log/slog"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/archive"
	"github.com/hashike/hashike/retention"
	"github.com/hashike/hashike/server"
)

// pruner is the retention pruner over store (the server's or `hashike run`'s). With objects
// (the server's object store), a deleted run's payload, script and result go with it. With
// arch (the server's log archive), each run's logs are archived before they leave the
// database, and archived logs past their retention leave the object store.
func (a *app) pruner(store hashike.Store, rc *RetentionConfig, logger *slog.Logger, objects hashike.ObjectStore, arch *serverArchive) (*retention.Pruner, error) {
	ps, ok := store.(hashike.Pruning)
	if !ok {
		return nil, fmt.Errorf("retention: the store %T cannot prune", store)
	}
	batch := 0
	if rc != nil {
		batch = rc.Batch
	}
	cfg := retention.Config{Store: ps, Clock: a.clock, Logger: logger, Batch: batch}
	if objects != nil {
		cfg.Objects, cfg.RunObjects = objects, server.RunPrefix
	}
	if arch != nil {
		cfg.Archive, cfg.Objects = arch.archiver, arch.objects
		cfg.Layout = retention.ArchiveLayout{Prefixes: []string{archive.KeyPrefix}, Parse: archive.ParseKey}
	}
	return retention.New(cfg)
}
