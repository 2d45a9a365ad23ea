package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/httpapi"
)

// The CLI's client mode. One rule, as a Docker context or a kubectl context: an invocation
// talks to one place. With --server (or HASHIKE_SERVER) that is the server: runs, describe,
// logs, wait and stop ask it, and its own commands (enqueue, cancel, jobs, ...) work at all;
// hashike run, which runs on this machine, refuses, since the server would never see its
// run. Without, it is this machine's run history. --server= (empty) chooses this machine
// over HASHIKE_SERVER.

// serverURL is the server the CLI talks to; "" is local mode.
func (a *app) serverURL() string {
	if a.server != "" || a.serverSet != nil && a.serverSet() {
		return a.server
	}
	return a.env("HASHIKE_SERVER")
}

// localOnly refuses a command that works on this machine's run history when a server is
// chosen: what it recorded, the server's runs, describe and logs would not find.
func (a *app) localOnly(cmd string) error {
	u := a.serverURL()
	if u == "" {
		return nil
	}
	return hashike.Errorf(hashike.EInvalid,
		"hashike %s runs on this machine, and with a server (%s, from HASHIKE_SERVER or --server) runs, describe and logs would not find its run: "+
			"run it here with HASHIKE_SERVER= (or --server=), or on the server with hashike jobs register NAME FILE and hashike enqueue NAME --wait", cmd, u)
}

// apiToken is the bearer token. The environment is the better place: a flag shows in ps.
func (a *app) apiToken() string {
	if a.token != "" {
		return a.token
	}
	return a.env("HASHIKE_TOKEN")
}

// client returns a client of the server; cmd names the command for the error of local mode.
func (a *app) client(cmd string) (*httpapi.Client, error) {
	u := a.serverURL()
	if u == "" {
		return nil, hashike.Errorf(hashike.EInvalid,
			"hashike %s talks to a hashike server: set HASHIKE_SERVER (or --server URL), e.g. HASHIKE_SERVER=http://127.0.0.1:8080", cmd)
	}
	a.asked = u
	// No client timeout: a log stream lasts as long as its run. Commands bound their calls
	// with their contexts (Ctrl-C).
	return httpapi.NewClient(u, a.apiToken(), nil)
}

// errorText is what the CLI prints for err: a refused token gets a message that says what to
// do about it.
func (a *app) errorText(err error) string {
	var ae *httpapi.AuthError
	if !errors.As(err, &ae) {
		msg := err.Error()
		if a.asked != "" && hashike.ErrorCodeOf(err) == hashike.EUnavailable {
			msg += " (is the server running? HASHIKE_SERVER or --server names it)"
		}
		if a.asked != "" && hashike.ErrorCodeOf(err) == hashike.ENotFound && !strings.Contains(msg, "not found") {
			// The server's words ("no job x") and where the CLI looked: with HASHIKE_SERVER in
			// the environment, a user may have meant the local history.
			msg += " (not found on the server " + a.asked + ")"
		}
		return msg
	}
	switch {
	case ae.Forbidden():
		return fmt.Sprintf("the server refused the token: its scope does not allow this (%s); use a token with a wider scope (hashike token create --scope ...)", ae.Message)
	case a.apiToken() == "":
		return fmt.Sprintf("the token is missing: the server wants one (%s); set HASHIKE_TOKEN (hashike token create makes one)", ae.Message)
	}
	return fmt.Sprintf("the server refused the token: %s; check HASHIKE_TOKEN (it may be mistyped or revoked)", ae.Message)
}

// readPayload reads a --payload value: JSON itself, @FILE, or - for standard input. It
// checks that it is JSON; the server checks its size.
func (a *app) readPayload(flag, v string) (json.RawMessage, error) {
	var data []byte
	switch {
	case v == "-":
		b, err := io.ReadAll(a.stdin)
		if err != nil {
			return nil, fmt.Errorf("read %s from standard input: %w", flag, err)
		}
		data = b
	case strings.HasPrefix(v, "@"):
		b, err := os.ReadFile(v[1:])
		if err != nil {
			return nil, &hashike.Error{Code: hashike.EInvalid, Message: flag, Err: err}
		}
		data = b
	default:
		data = []byte(v)
	}
	if !json.Valid(data) {
		var x any
		err := json.Unmarshal(data, &x)
		return nil, &hashike.Error{Code: hashike.EInvalid, Message: "invalid flags", Fields: []hashike.FieldError{{
			Path: flag, Severity: hashike.SeverityError, Message: fmt.Sprintf("is not JSON: %v (quote a string: --payload '\"text\"')", err)}}}
	}
	return data, nil
}

// checkOutput checks a --output flag's value.
func checkOutput(output string) error {
	if output != "text" && output != "json" {
		return &hashike.Error{Code: hashike.EInvalid, Message: "invalid flags",
			Fields: []hashike.FieldError{{Path: "--output", Severity: hashike.SeverityError, Message: "must be text or json"}}}
	}
	return nil
}

// checkModeFlags refuses the flags of local mode in server mode, and the reverse.
func checkModeFlags(cmd interface{ Changed(string) bool }, server bool, local, remote []string) error {
	var bad []hashike.FieldError
	if server {
		for _, f := range local {
			if cmd.Changed(f) {
				bad = append(bad, hashike.FieldError{Path: "--" + f, Severity: hashike.SeverityError, Message: "is not supported with a server (HASHIKE_SERVER)"})
			}
		}
	} else {
		for _, f := range remote {
			if cmd.Changed(f) {
				bad = append(bad, hashike.FieldError{Path: "--" + f, Severity: hashike.SeverityError, Message: "needs a server: set HASHIKE_SERVER (or --server URL)"})
			}
		}
	}
	if len(bad) > 0 {
		return &hashike.Error{Code: hashike.EInvalid, Message: "invalid flags", Fields: bad}
	}
	return nil
}

// interruptible is the context of a command that may wait long: Ctrl-C or SIGTERM ends it.
func interruptible(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}
