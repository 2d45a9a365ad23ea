package docker

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/registry"
)

// indexServer is the Docker CLI's configuration key for Docker Hub.
const indexServer = "https://index.docker.io/v1/"

// Credentials finds the credentials a pull sends to a registry, as the docker CLI does with its
// configuration (config.json in ConfigDir):
//
//  1. credHelpers[registry]: the credential helper docker-credential-NAME;
//  2. for an Amazon ECR registry (ACCOUNT.dkr.ecr.REGION.amazonaws.com) that no helper is named
//     for, ECR's GetAuthorizationToken, when ECR is set (what amazon-ecr-credential-helper does);
//     when that fails, the configuration's own credentials, if it has some, are tried instead;
//  3. credsStore: the default credential helper, for every registry;
//  4. auths[registry]: base64 "user:password" in auth (or username and password, identitytoken).
//
// A registry is keyed by its host[:port]; Docker Hub by https://index.docker.io/v1/. A helper
// is run as the docker CLI runs it: `docker-credential-NAME get`, the key on its standard
// input, a JSON {ServerURL, Username, Secret} on its standard output.
type Credentials struct {
	// ConfigDir is the Docker CLI's configuration directory (see ConfigDir).
	ConfigDir string
	// ECR fetches tokens for ECR registries; nil: they are treated as any other registry.
	ECR ECRTokens
}

// ECRTokens fetches Amazon ECR authorization tokens. It is an interface so that this package
// does not depend on the AWS SDK: the command wires an implementation over it.
type ECRTokens interface {
	// AuthorizationToken returns GetAuthorizationToken's authorizationToken for the registry of
	// account registryID in region: base64 of "AWS:password".
	AuthorizationToken(ctx context.Context, region, registryID string) (string, error)
}

// ecrHost matches an ECR private registry: account, dkr.ecr[-fips], region, amazonaws.com[.cn].
var ecrHost = regexp.MustCompile(`^([0-9]{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$`)

// helperTimeout bounds one run of a credential helper.
const helperTimeout = time.Minute

// maxHelperOutput bounds what is read of a credential helper's output.
const maxHelperOutput = 1 << 20

// registryOf returns the registry host of an image reference and its configuration key.
func registryOf(image string) (host, key string, err error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", "", err
	}
	host = reference.Domain(named)
	if host == "docker.io" {
		return "index.docker.io", indexServer, nil
	}
	return host, host, nil
}

// Resolve returns the credentials for image's registry: the zero AuthConfig when none are
// configured.
func (c *Credentials) Resolve(ctx context.Context, image string) (registry.AuthConfig, error) {
	host, key, err := registryOf(image)
	if err != nil {
		return registry.AuthConfig{}, err
	}
	cfg, err := readConfigFile(c.ConfigDir)
	if err != nil {
		return registry.AuthConfig{}, err
	}
	if helper := cfg.CredHelpers[host]; helper != "" {
		return runHelper(ctx, helper, key)
	}
	var ecrErr error
	if m := ecrHost.FindStringSubmatch(host); m != nil && c.ECR != nil {
		auth, err := c.ecr(ctx, host, m[2], m[1])
		if err == nil {
			return auth, nil
		}
		ecrErr = err
	}
	var auth registry.AuthConfig
	if cfg.CredsStore != "" {
		auth, err = runHelper(ctx, cfg.CredsStore, key)
		if err != nil {
			return auth, errors.Join(ecrErr, err)
		}
	} else if auth, err = cfg.lookup(host, key); err != nil {
		return auth, errors.Join(ecrErr, err)
	}
	if auth == (registry.AuthConfig{}) && ecrErr != nil {
		return auth, ecrErr
	}
	return auth, nil
}

func (c *Credentials) ecr(ctx context.Context, host, region, account string) (registry.AuthConfig, error) {
	tok, err := c.ECR.AuthorizationToken(ctx, region, account)
	if err != nil {
		return registry.AuthConfig{}, fmt.Errorf("ECR GetAuthorizationToken for %s: %w", host, err)
	}
	user, pass, err := decodeAuth(tok)
	if err != nil {
		return registry.AuthConfig{}, fmt.Errorf("ECR GetAuthorizationToken for %s: the token: %w", host, err)
	}
	return registry.AuthConfig{Username: user, Password: pass, ServerAddress: host}, nil
}

// lookup reads auths: the key itself, else any key whose host is the registry's (keys may be
// written as URLs, https://ghcr.io/v2/ for example).
func (cfg *configFile) lookup(host, key string) (registry.AuthConfig, error) {
	e, ok := cfg.Auths[key]
	if !ok {
		for k, v := range cfg.Auths {
			if hostOf(k) == host {
				e, ok = v, true
				break
			}
		}
	}
	if !ok {
		return registry.AuthConfig{}, nil
	}
	auth := registry.AuthConfig{Username: e.Username, Password: e.Password, IdentityToken: e.IdentityToken, RegistryToken: e.RegistryToken, ServerAddress: key}
	if e.Auth != "" {
		user, pass, err := decodeAuth(e.Auth)
		if err != nil {
			return registry.AuthConfig{}, fmt.Errorf("%s: auths[%q].auth: %w", cfg.path, key, err)
		}
		auth.Username, auth.Password = user, pass
	}
	return auth, nil
}

// hostOf is the host of a configuration key, as the docker CLI's ConvertToHostname.
func hostOf(key string) string {
	h := strings.TrimPrefix(strings.TrimPrefix(key, "http://"), "https://")
	h, _, _ = strings.Cut(h, "/")
	return h
}

func decodeAuth(s string) (user, pass string, err error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return "", "", errors.New("not base64")
	}
	user, pass, ok := strings.Cut(string(b), ":")
	if !ok {
		return "", "", errors.New(`not base64 of "user:password"`)
	}
	return user, pass, nil
}

// errCredentialsNotFound is what every docker-credential-helpers helper prints when it has none.
const errCredentialsNotFound = "credentials not found in native keychain"

// runHelper asks docker-credential-NAME for the credentials of key.
func runHelper(ctx context.Context, name, key string) (registry.AuthConfig, error) {
	prog := "docker-credential-" + name
	ctx, cancel := context.WithTimeout(ctx, helperTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, "get")
	cmd.Stdin = strings.NewReader(key)
	out, errOut := &capped{max: maxHelperOutput}, &capped{max: 4096}
	cmd.Stdout, cmd.Stderr = out, errOut
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if msg == errCredentialsNotFound {
			return registry.AuthConfig{}, nil
		}
		if msg == "" {
			msg = strings.TrimSpace(errOut.String())
		}
		if msg != "" {
			return registry.AuthConfig{}, fmt.Errorf("credential helper %s for %s: %w: %s", prog, key, err, msg)
		}
		return registry.AuthConfig{}, fmt.Errorf("credential helper %s for %s: %w", prog, key, err)
	}
	if out.over {
		return registry.AuthConfig{}, fmt.Errorf("credential helper %s for %s: more than %d bytes of output", prog, key, maxHelperOutput)
	}
	var resp struct {
		ServerURL string
		Username  string
		Secret    string
	}
	if err := json.Unmarshal(out.Bytes(), &resp); err != nil {
		return registry.AuthConfig{}, fmt.Errorf("credential helper %s for %s: its output: %w", prog, key, err)
	}
	auth := registry.AuthConfig{ServerAddress: key}
	if resp.Username == "<token>" { // an identity token, as docker-credential-helpers marks it
		auth.IdentityToken = resp.Secret
	} else {
		auth.Username, auth.Password = resp.Username, resp.Secret
	}
	return auth, nil
}

// encodeAuth is the X-Registry-Auth header's value: base64url of the JSON AuthConfig.
func encodeAuth(a registry.AuthConfig) (string, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(b), nil
}

// capped keeps the first max bytes written to it and notes whether more came.
type capped struct {
	bytes.Buffer
	max  int
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.Len(); len(p) > room {
		c.over = true
		c.Buffer.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return c.Buffer.Write(p)
}
