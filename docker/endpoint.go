package docker

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/moby/moby/client"

	"github.com/hashike/hashike"
)

// DefaultHost is the engine's socket when nothing names another.
const DefaultHost = "unix:///var/run/docker.sock"

// Endpoint is the engine a backend talks to and what chose it.
type Endpoint struct {
	// Host is the engine's address: unix:///path, tcp://host:port, ...
	Host string
	// Source says where Host came from: "DOCKER_HOST", `context "NAME"` or "default".
	Source string
	// TLSDir holds a context's ca.pem, cert.pem and key.pem, if it has any.
	TLSDir string
}

func (e Endpoint) String() string {
	if e.Source == "" {
		return e.Host
	}
	return e.Host + " (" + e.Source + ")"
}

// maxConfigFile bounds what is read of a Docker CLI configuration or context file: they are a
// few kilobytes; anything far larger is not one.
const maxConfigFile = 4 << 20

// ConfigDir is the Docker CLI's configuration directory: DOCKER_CONFIG, else ~/.docker.
func ConfigDir(getenv func(string) string) string {
	if d := getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".docker")
}

// ResolveEndpoint finds the engine as the docker CLI does: DOCKER_HOST wins; else the context
// named by DOCKER_CONTEXT, else the configuration's currentContext; the context "default" (and
// no context at all) is DOCKER_HOST or the default socket. A context that is named but does not
// exist is an error, as it is for the docker CLI.
func ResolveEndpoint(getenv func(string) string) (Endpoint, error) {
	if h := getenv("DOCKER_HOST"); h != "" {
		return Endpoint{Host: h, Source: "DOCKER_HOST"}, nil
	}
	dir := ConfigDir(getenv)
	name, from := getenv("DOCKER_CONTEXT"), "DOCKER_CONTEXT"
	if name == "" {
		cfg, err := readConfigFile(dir)
		if err != nil {
			return Endpoint{}, err
		}
		name, from = cfg.CurrentContext, "currentContext in "+filepath.Join(dir, "config.json")
	}
	if name == "" || name == "default" {
		return Endpoint{Host: DefaultHost, Source: "default"}, nil
	}
	id := sha256.Sum256([]byte(name))
	metaPath := filepath.Join(dir, "contexts", "meta", hex.EncodeToString(id[:]), "meta.json")
	var meta struct {
		Endpoints map[string]struct {
			Host string
		}
	}
	data, err := readBounded(metaPath)
	if errors.Is(err, fs.ErrNotExist) {
		return Endpoint{}, hashike.Errorf(hashike.EInvalid, "Docker context %q (from %s) not found: no %s", name, from, metaPath)
	}
	if err == nil {
		err = json.Unmarshal(data, &meta)
	}
	if err != nil {
		return Endpoint{}, &hashike.Error{Code: hashike.EInvalid, Message: fmt.Sprintf("Docker context %q (from %s): %s", name, from, metaPath), Err: err}
	}
	ep, ok := meta.Endpoints["docker"]
	if !ok || ep.Host == "" {
		return Endpoint{}, hashike.Errorf(hashike.EInvalid, "Docker context %q (from %s) has no docker endpoint: %s", name, from, metaPath)
	}
	e := Endpoint{Host: ep.Host, Source: fmt.Sprintf("context %q", name)}
	tls := filepath.Join(dir, "contexts", "tls", hex.EncodeToString(id[:]), "docker")
	if _, err := os.Stat(filepath.Join(tls, "ca.pem")); err == nil {
		e.TLSDir = tls
	} else if _, err := os.Stat(filepath.Join(tls, "cert.pem")); err == nil {
		e.TLSDir = tls
	}
	return e, nil
}

// clientOpts are the moby client options that reach e.
func (e Endpoint) clientOpts() []client.Opt {
	if e.Host == "" {
		return nil // DOCKER_HOST as the moby client reads it, or its default
	}
	opts := []client.Opt{client.WithHost(e.Host)}
	if e.TLSDir != "" {
		ca, cert, key := filepath.Join(e.TLSDir, "ca.pem"), filepath.Join(e.TLSDir, "cert.pem"), filepath.Join(e.TLSDir, "key.pem")
		if _, err := os.Stat(ca); err != nil {
			ca = ""
		}
		if _, err := os.Stat(cert); err != nil {
			cert, key = "", ""
		}
		opts = append(opts, client.WithTLSClientConfig(ca, cert, key))
	}
	return opts
}

// configFile is the part of the Docker CLI's config.json that hashike reads.
type configFile struct {
	CurrentContext string               `json:"currentContext"`
	Auths          map[string]authEntry `json:"auths"`
	CredsStore     string               `json:"credsStore"`
	CredHelpers    map[string]string    `json:"credHelpers"`
	path           string
}

type authEntry struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

// readConfigFile reads dir/config.json; a missing file is an empty configuration.
func readConfigFile(dir string) (*configFile, error) {
	p := filepath.Join(dir, "config.json")
	cfg := &configFile{path: p}
	data, err := readBounded(p)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil
	}
	if err == nil && len(data) > 0 {
		err = json.Unmarshal(data, cfg)
	}
	if err != nil {
		return nil, &hashike.Error{Code: hashike.EInvalid, Message: "Docker CLI configuration " + p, Err: err}
	}
	return cfg, nil
}

func readBounded(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxConfigFile {
		return nil, fmt.Errorf("larger than %d bytes", maxConfigFile)
	}
	return data, nil
}
