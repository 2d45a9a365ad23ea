package main

import (
	"context"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/docker"
)

// dockerBackend builds the local backend on the engine the docker CLI would use (DOCKER_HOST,
// else DOCKER_CONTEXT or the CLI configuration's current context).
func (a *app) dockerBackend() (hashike.Backend, error) {
	ep, err := docker.ResolveEndpoint(a.env)
	if err != nil {
		return nil, err
	}
	return docker.Open(docker.Config{Endpoint: ep, Clock: a.clock})
}

// engineCheckTimeout bounds the check `hashike run` makes that the engine answers before it
// records a run. The runner rides out an engine that goes away during a run (a daemon
// restarting); one that is not there at the start is reported at once instead.
const engineCheckTimeout = 2 * time.Second

// checkEngine fails when backend is the local one and its engine does not answer.
func checkEngine(ctx context.Context, backend hashike.Backend) error {
	p, ok := backend.(interface{ Ping(context.Context) error })
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, engineCheckTimeout)
	defer cancel()
	return p.Ping(ctx)
}
