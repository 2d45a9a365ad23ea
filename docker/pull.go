package docker

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/hashike/hashike"
)

// PullPolicy says when the backend pulls a container's image: docker run's --pull values.
type PullPolicy string

const (
	// PullMissing pulls an image only when the engine does not have it (docker run's default).
	// A tag such as :latest is not refreshed: an image built locally runs as built, and is
	// never replaced by a registry's image of the same name.
	PullMissing PullPolicy = "missing"
	// PullAlways pulls before every run, as ECS does; a failed pull fails the run
	// (CannotPullContainerError), even when the engine has an older copy.
	PullAlways PullPolicy = "always"
	// PullNever never pulls: an image the engine does not have fails the run.
	PullNever PullPolicy = "never"
)

// ParsePullPolicy reads a pull policy: missing (also ""), always or never.
func ParsePullPolicy(s string) (PullPolicy, error) {
	p := PullPolicy(s)
	return p, p.valid()
}

func (p PullPolicy) valid() error {
	switch p {
	case "", PullMissing, PullAlways, PullNever:
		return nil
	}
	return hashike.Errorf(hashike.EInvalid, "pull policy %q: use missing, always or never", string(p))
}

// ensureImages makes every image of td present on the engine, as the pull policy says.
func (b *Backend) ensureImages(ctx context.Context, td *hashike.TaskDefinition) error {
	seen := map[string]bool{}
	for _, c := range td.ContainerDefinitions {
		if seen[c.Image] {
			continue
		}
		seen[c.Image] = true
		present := true
		if b.pull != PullAlways {
			_, err := b.api.ImageInspect(ctx, c.Image)
			switch {
			case err == nil:
			case cerrdefs.IsNotFound(err):
				present = false
			case client.IsErrConnectionFailed(err):
				return b.unavailable(err)
			default:
				return fmt.Errorf("inspect image %s: %w", c.Image, err)
			}
		}
		switch {
		case present && b.pull != PullAlways:
			continue
		case b.pull == PullNever:
			return &hashike.StartError{Reason: fmt.Sprintf("CannotPullContainerError: container %s: image %s is not present locally and the pull policy is never", c.Name, c.Image)}
		}
		if err := b.pullImage(ctx, c.Image); err != nil {
			if client.IsErrConnectionFailed(err) {
				return b.unavailable(err)
			}
			what := "could not be pulled"
			if !present {
				what = "is not present locally and could not be pulled"
			}
			return &hashike.StartError{Reason: fmt.Sprintf("CannotPullContainerError: container %s: image %s %s: %v", c.Name, c.Image, what, err)}
		}
	}
	return nil
}

// pullImage pulls image with the credentials its registry is configured with, and writes the
// pull's steps to the progress writer: a line when a layer changes state, not every tick.
func (b *Backend) pullImage(ctx context.Context, image string) error {
	var opts client.ImagePullOptions
	if b.registry != nil {
		auth, err := b.registry.Resolve(ctx, image)
		if err != nil {
			return fmt.Errorf("registry credentials: %w", err)
		}
		if auth.Username != "" || auth.Password != "" || auth.IdentityToken != "" || auth.RegistryToken != "" {
			if opts.RegistryAuth, err = encodeAuth(auth); err != nil {
				return err
			}
		}
	}
	b.say("pulling image %s", image)
	resp, err := b.api.ImagePull(ctx, image, opts)
	if err != nil {
		return err
	}
	defer resp.Close()
	last := map[string]string{}
	for m, err := range resp.JSONMessages(ctx) {
		if err != nil {
			return err
		}
		if m.Error != nil {
			return m.Error
		}
		if m.Status == "" || last[m.ID] == m.Status {
			continue
		}
		last[m.ID] = m.Status
		if m.ID != "" {
			b.say("pull %s: %s: %s", image, m.ID, m.Status)
		} else {
			b.say("pull %s: %s", image, m.Status)
		}
	}
	return nil
}

func (b *Backend) say(format string, args ...any) {
	if b.progress != nil {
		fmt.Fprintf(b.progress, "hashike: "+format+"\n", args...)
	}
}
