package main

import (
	"fmt"
	"log/slog"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/retention"
)

// pruner is the retention pruner over store (the server's or `hashike run`'s). The log
// archive is not wired yet: logs past their retention are deleted from the database without
// an archived copy (README "Retention").
func (a *app) pruner(store hashike.Store, rc *RetentionConfig, logger *slog.Logger) (*retention.Pruner, error) {
	ps, ok := store.(hashike.Pruning)
	if !ok {
		return nil, fmt.Errorf("retention: the store %T cannot prune", store)
	}
	batch := 0
	if rc != nil {
		batch = rc.Batch
	}
	return retention.New(retention.Config{Store: ps, Clock: a.clock, Logger: logger, Batch: batch})
}
