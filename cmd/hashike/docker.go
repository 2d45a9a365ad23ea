package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/docker"
)

// dockerBackend builds the local backend: on the engine the docker CLI would use (DOCKER_HOST,
// else DOCKER_CONTEXT or the CLI configuration's current context), pulling with the registry
// credentials the docker CLI would send, as --pull (else HASHIKE_PULL) says, with the pull's
// steps on stderr.
func (a *app) dockerBackend() (hashike.Backend, error) {
	ep, err := docker.ResolveEndpoint(a.env)
	if err != nil {
		return nil, err
	}
	pull, from := a.pull, "--pull"
	if pull == "" {
		pull, from = a.env("HASHIKE_PULL"), "HASHIKE_PULL"
	}
	policy, err := docker.ParsePullPolicy(pull)
	if err != nil {
		return nil, hashike.Errorf(hashike.EInvalid, "%s: %v", from, err)
	}
	var progress io.Writer = a.stderr
	if l, ok := a.structuredLog(); ok {
		// In a server (or with --log-format), a pull's steps are log records like the rest.
		progress = &logLines{log: l, msg: "pulling an image"}
	}
	return docker.Open(docker.Config{
		Endpoint: ep,
		Clock:    a.clock,
		Registry: &docker.Credentials{ConfigDir: docker.ConfigDir(a.env), ECR: ecrTokens{}},
		Pull:     policy,
		Progress: progress,
	})
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

// ecrTokens fetches ECR authorization tokens with the AWS SDK's default credentials (as
// amazon-ecr-credential-helper does), in the registry's own region.
type ecrTokens struct {
	// endpoint overrides ECR's endpoint (tests); AWS_ENDPOINT_URL_ECR does the same.
	endpoint string
}

func (e ecrTokens) AuthorizationToken(ctx context.Context, region, registryID string) (string, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
	if err != nil {
		return "", err
	}
	c := ecr.NewFromConfig(cfg, func(o *ecr.Options) {
		if e.endpoint != "" {
			o.BaseEndpoint = &e.endpoint
		}
	})
	out, err := c.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{RegistryIds: []string{registryID}}) //nolint:staticcheck // deprecated, still honoured: names the registry in the request
	if err != nil {
		return "", err
	}
	if len(out.AuthorizationData) == 0 || out.AuthorizationData[0].AuthorizationToken == nil {
		return "", fmt.Errorf("no authorization data for registry %s", registryID)
	}
	return *out.AuthorizationData[0].AuthorizationToken, nil
}
