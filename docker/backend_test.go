package docker_test

import (
	"testing"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/backendtest"
	"github.com/hashike/hashike/docker"
	"github.com/hashike/hashike/docker/dockertest"
)

func newBackend(t *testing.T) hashike.Backend {
	dockertest.Require(t)
	b, err := docker.New("", hashike.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformance(t *testing.T) {
	dockertest.Require(t)
	backendtest.Run(t, backendtest.Harness{New: newBackend, Image: dockertest.Image})
}
