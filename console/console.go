// Package console is hashike server's web console: server-rendered pages under /ui/ over an
// api.Service, on the API's own listener. Pages are html/template; htmx (vendored, embedded)
// and a little JavaScript add live updates, local timestamps and keyboard shortcuts, but
// every page reads without JavaScript. The binary serves every asset: no CDN, no Node.
// assets/htmx.min.js is htmx 2.0.11 as npm publishes it (`npm pack htmx.org@2.0.11`,
// dist/htmx.min.js; its licence beside it); replace both files to upgrade.
//
// Access: a person logs in with an API token (its scope decides what the console shows);
// the session is an encrypted, HttpOnly, SameSite=Lax cookie that holds the token's secret,
// so every request is authenticated anew (a revoked token ends its sessions) and nothing of
// the secret is ever rendered. Every form carries the session's CSRF token, checked on every
// POST; an action the scope does not allow is refused (403) even when forged.
package console

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/httpapi"
)

// Prefix is where the console is served.
const Prefix = "/ui/"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Options configure the console.
type Options struct {
	// NoAuth serves every request as an admin without logging in: the API's NoAuth, for a
	// local development server only.
	NoAuth bool
	// Key encrypts and authenticates session cookies: 32 bytes. Replicas behind one address
	// must share it; nil draws one at start (sessions then end with the process).
	Key []byte
	// SessionTTL is how long a login lasts; 0 is 12 hours.
	SessionTTL time.Duration
	// Now is the clock (sessions, durations of running runs); nil is time.Now.
	Now func() time.Time
	// Random is the source of session nonces and CSRF tokens; nil is crypto/rand.
	Random io.Reader
	// Logger gets internal errors, which the person does not see; nil logs nothing.
	Logger *slog.Logger
}

// Console is the console's http.Handler.
type Console struct {
	svc      api.Service
	opts     Options
	sessions *sessions
	pages    map[string]*template.Template
	assets   map[string]asset
	mux      *http.ServeMux
	log      *slog.Logger
}

type asset struct {
	body        []byte
	contentType string
	version     string // a digest of body, in asset URLs so that they can be cached for good
}

// New returns the console over svc.
func New(svc api.Service, opts Options) (*Console, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Random == nil {
		opts.Random = rand.Reader
	}
	if opts.SessionTTL == 0 {
		opts.SessionTTL = 12 * time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	key := opts.Key
	if key == nil {
		key = make([]byte, 32)
		if _, err := io.ReadFull(opts.Random, key); err != nil {
			return nil, fmt.Errorf("console session key: %w", err)
		}
	}
	ss, err := newSessions(key, opts.SessionTTL, opts.Random)
	if err != nil {
		return nil, err
	}
	c := &Console{svc: svc, opts: opts, sessions: ss, log: opts.Logger, mux: http.NewServeMux()}
	if c.assets, err = loadAssets(); err != nil {
		return nil, err
	}
	if c.pages, err = c.parsePages(); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

func loadAssets() (map[string]asset, error) {
	out := map[string]asset{}
	err := fs.WalkDir(assetFS, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assetFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := "application/octet-stream"
		switch path.Ext(p) {
		case ".js":
			ct = "text/javascript; charset=utf-8"
		case ".css":
			ct = "text/css; charset=utf-8"
		case ".svg":
			ct = "image/svg+xml"
		case ".txt", ".LICENSE":
			ct = "text/plain; charset=utf-8"
		}
		out[path.Base(p)] = asset{body: b, contentType: ct, version: hex.EncodeToString(sum[:6])}
		return nil
	})
	return out, err
}

// AssetBytes is the total size of the embedded assets (templates and static files).
func AssetBytes() (int, error) {
	total := 0
	for _, f := range []fs.FS{templateFS, assetFS} {
		err := fs.WalkDir(f, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			total += int(info.Size())
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	return total, nil
}

// ServeHTTP serves the console's routes, all under Prefix.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
	c.mux.ServeHTTP(w, r)
}

// handlerFunc is a page or action: what it returns as an error is rendered as an error page
// with the status of its code.
type handlerFunc func(w http.ResponseWriter, r *http.Request, s *session) error

// page wraps a handler that needs a session with scope need: without one it redirects a GET
// to the login page (401 for anything else); a POST must carry the session's CSRF token.
func (c *Console) page(need hashike.Scope, fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := c.session(w, r)
		switch {
		case errors.Is(err, errNoSession):
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, Prefix+"login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.fail(w, r, nil, errors.New("log in first"), http.StatusUnauthorized)
			return
		case err != nil: // the token could not be checked (the database is down)
			c.fail(w, r, nil, err, 0)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, int64(c.svc.MaxPayloadBytes())*2+64<<10)
			if err := r.ParseForm(); err != nil {
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					c.fail(w, r, s, fmt.Errorf("the form is larger than %d bytes", mbe.Limit), http.StatusRequestEntityTooLarge)
					return
				}
				c.fail(w, r, s, &hashike.Error{Code: hashike.EInvalid, Message: "the form cannot be read: " + err.Error()}, 0)
				return
			}
			if !s.checkCSRF(r) {
				c.fail(w, r, s, errors.New("the form is stale or forged (CSRF token missing or wrong): reload the page and try again"), http.StatusForbidden)
				return
			}
		}
		if !s.scope.Allows(need) {
			c.fail(w, r, s, fmt.Errorf("your token's scope %q does not allow this (it needs %q)", s.scope, need), http.StatusForbidden)
			return
		}
		if err := fn(w, r, s); err != nil {
			c.fail(w, r, s, err, 0)
		}
	})
}

// fail renders an error page. status 0 takes the error's code.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error, status int) {
	if status == 0 {
		status = httpapi.StatusOf(err)
	}
	msg := err.Error()
	if status >= 500 {
		c.log.Error("console", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "the server failed to answer; the error is in its log"
		if hashike.ErrorCodeOf(err) == hashike.EUnavailable {
			msg = "a dependency of the server is unavailable; try again shortly"
		}
	}
	c.render(w, r, s, status, "error", map[string]any{"Status": status, "StatusText": http.StatusText(status), "Message": msg})
}

// render executes the page template name inside the layout with data. A request from htmx
// for a fragment (HX-Request, with the page defining a "fragment" template) gets the
// fragment only.
func (c *Console) render(w http.ResponseWriter, r *http.Request, s *session, status int, name string, data map[string]any) {
	t, ok := c.pages[name]
	if !ok {
		http.Error(w, "no page "+name, http.StatusInternalServerError)
		return
	}
	if data == nil {
		data = map[string]any{}
	}
	data["Session"] = s
	data["Path"] = r.URL.Path
	data["Now"] = c.opts.Now()
	tmpl := "layout"
	if r.Header.Get("HX-Request") == "true" && r.URL.Query().Get("fragment") != "" && t.Lookup("fragment") != nil {
		tmpl = "fragment"
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, tmpl, data); err != nil {
		c.log.Error("console: render", "page", name, "err", err)
		http.Error(w, "the page failed to render; the error is in the server's log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// serveAsset serves an embedded file; a request naming the current version is cached for good.
func (c *Console) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := c.assets[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.contentType)
	if r.URL.Query().Get("v") == a.version {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("ETag", `"`+a.version+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
