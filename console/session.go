package console

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/hashike/hashike"
)

// cookieName is the session cookie's name.
const cookieName = "hashike_session"

// maxCookie bounds the session cookie read: a secret, a CSRF token and a time fit far below.
const maxCookie = 1024

// sessions seals and opens session cookies: AES-GCM over a small JSON value, so a cookie can
// be neither read nor made without the key.
type sessions struct {
	aead cipher.AEAD
	ttl  time.Duration
	rand io.Reader
}

// sealed is what the cookie holds.
type sealed struct {
	Secret  string `json:"s"` // the API token's secret ("" with NoAuth)
	CSRF    string `json:"c"`
	Expires int64  `json:"e"` // unix seconds
}

// session is one request's login: the token's scope and name, and the form token.
type session struct {
	scope     hashike.Scope
	tokenName string
	csrf      string
}

// Can reports whether the session's scope allows what needs scope need ("read", "submit",
// "admin"): templates show an action's button only when it does.
func (s *session) Can(need string) bool { return s != nil && s.scope.Allows(hashike.Scope(need)) }

// CSRF is the session's form token, for hidden fields and htmx's headers.
func (s *session) CSRF() string {
	if s == nil {
		return ""
	}
	return s.csrf
}

// Who names the session's token and scope for the header.
func (s *session) Who() string {
	if s == nil {
		return ""
	}
	if s.tokenName == "" {
		return string(s.scope)
	}
	return s.tokenName + " (" + string(s.scope) + ")"
}

// checkCSRF reports whether a POST carries the session's CSRF token (form field csrf or
// header X-CSRF-Token).
func (s *session) checkCSRF(r *http.Request) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf")
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

func newSessions(key []byte, ttl time.Duration, rand io.Reader) (*sessions, error) {
	if len(key) != 32 {
		return nil, hashike.Errorf(hashike.EInvalid, "console session key: want 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("console session key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("console session key: %w", err)
	}
	return &sessions{aead: aead, ttl: ttl, rand: rand}, nil
}

// newCookie seals a new session for secret and returns its cookie and CSRF token.
func (ss *sessions) newCookie(secret string, now time.Time, secure bool) (*http.Cookie, string, error) {
	tok := make([]byte, 16)
	if _, err := io.ReadFull(ss.rand, tok); err != nil {
		return nil, "", fmt.Errorf("csrf token: %w", err)
	}
	v := sealed{Secret: secret, CSRF: hex.EncodeToString(tok), Expires: now.Add(ss.ttl).Unix()}
	plain, err := json.Marshal(v)
	if err != nil {
		return nil, "", err
	}
	nonce := make([]byte, ss.aead.NonceSize())
	if _, err := io.ReadFull(ss.rand, nonce); err != nil {
		return nil, "", fmt.Errorf("session nonce: %w", err)
	}
	box := ss.aead.Seal(nonce, nonce, plain, []byte(cookieName))
	return &http.Cookie{Name: cookieName, Value: base64.RawURLEncoding.EncodeToString(box), Path: Prefix,
		Expires: now.Add(ss.ttl), HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode}, v.CSRF, nil
}

// open reads a session cookie; an error for a missing, forged or expired one.
func (ss *sessions) open(r *http.Request, now time.Time) (sealed, error) {
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return sealed{}, errors.New("no session")
	}
	if len(ck.Value) > maxCookie {
		return sealed{}, errors.New("session cookie too large")
	}
	box, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil || len(box) < ss.aead.NonceSize() {
		return sealed{}, errors.New("session cookie malformed")
	}
	plain, err := ss.aead.Open(nil, box[:ss.aead.NonceSize()], box[ss.aead.NonceSize():], []byte(cookieName))
	if err != nil {
		return sealed{}, errors.New("session cookie not ours")
	}
	var v sealed
	if err := json.Unmarshal(plain, &v); err != nil {
		return sealed{}, errors.New("session cookie malformed")
	}
	if now.Unix() >= v.Expires {
		return sealed{}, errors.New("session expired")
	}
	return v, nil
}

// clearCookie ends the session in the browser.
func clearCookie(secure bool) *http.Cookie {
	return &http.Cookie{Name: cookieName, Value: "", Path: Prefix, MaxAge: -1, HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteLaxMode}
}

// errNoSession: the request has no valid session (no cookie, a forged or expired one, or a
// token that is unknown or revoked now): log in.
var errNoSession = errors.New("no session")

// session authenticates the request: its cookie's secret must still name a token. With
// NoAuth a request without a session gets one (an admin's), for the CSRF token. An error
// other than errNoSession means the token could not be checked.
func (c *Console) session(w http.ResponseWriter, r *http.Request) (*session, error) {
	now := c.opts.Now()
	v, err := c.sessions.open(r, now)
	if c.opts.NoAuth {
		if err != nil {
			ck, csrf, err := c.sessions.newCookie("", now, r.TLS != nil)
			if err != nil {
				return nil, err
			}
			http.SetCookie(w, ck)
			v.CSRF = csrf
		}
		return &session{scope: hashike.ScopeAdmin, csrf: v.CSRF}, nil
	}
	if err != nil {
		return nil, errNoSession
	}
	tok, err := c.svc.Authenticate(r.Context(), v.Secret)
	if hashike.ErrorCodeOf(err) == hashike.ENotFound {
		return nil, errNoSession
	}
	if err != nil {
		return nil, err
	}
	return &session{scope: tok.Scope, tokenName: tok.Name, csrf: v.CSRF}, nil
}

// login: GET shows the form; POST checks the token and sets the session cookie. The
// login form has no session to take a CSRF token from: SameSite cookies and the cross-origin
// check (Sec-Fetch-Site, Origin) keep another site from logging a browser in with its own token.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.FormValue("next"))
	if r.Method == http.MethodGet {
		c.render(w, r, nil, http.StatusOK, "login", map[string]any{"Next": next})
		return
	}
	if err := http.NewCrossOriginProtection().Check(r); err != nil {
		c.fail(w, r, nil, errors.New("a login from another site is refused"), http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	secret := r.PostFormValue("token")
	fail := func(msg string, status int) {
		c.render(w, r, nil, status, "login", map[string]any{"Next": next, "Error": msg})
	}
	if secret == "" {
		fail("Paste an API token (hashike token create --name NAME --scope read|submit|admin makes one).", http.StatusBadRequest)
		return
	}
	tok, err := c.svc.Authenticate(r.Context(), secret)
	if err != nil {
		if hashike.ErrorCodeOf(err) == hashike.ENotFound {
			fail("That token is unknown or revoked.", http.StatusUnauthorized)
			return
		}
		c.fail(w, r, nil, err, 0)
		return
	}
	ck, _, err := c.sessions.newCookie(secret, c.opts.Now(), r.TLS != nil)
	if err != nil {
		c.fail(w, r, nil, err, 0)
		return
	}
	http.SetCookie(w, ck)
	c.log.Info("console: login", "token", tok.Name, "scope", tok.Scope)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout clears the cookie (a POST with the session's CSRF token, so that no link logs out).
func (c *Console) logout(w http.ResponseWriter, r *http.Request, _ *session) error {
	http.SetCookie(w, clearCookie(r.TLS != nil))
	http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
	return nil
}

// safeNext keeps a post-login redirect inside the console.
func safeNext(next string) string {
	if len(next) < len(Prefix) || next[:len(Prefix)] != Prefix || len(next) > 2048 {
		return Prefix + "runs"
	}
	for _, c := range next {
		if c == '\\' || c < ' ' {
			return Prefix + "runs"
		}
	}
	return next
}
