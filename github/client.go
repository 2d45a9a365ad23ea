// Package github is hashike's adapter to GitHub (GitHub.com or GitHub Enterprise Server) for
// self-hosted Actions runners. Client speaks the REST API through go-github: just-in-time
// runner configs, the runners list, runner removal, the rescan of still-queued jobs and the
// rate limit. ScaleSets speaks the runner scale-set API through actions/scaleset: scale sets,
// the single listener session per scale set and its messages, job acquisition. Both
// authenticate as a GitHub App installation (tokens cached until shortly before they expire)
// or with a personal access token, and return the domain's types; the GitHub libraries stay
// inside.
//
// JIT configs are credentials: they are returned as JITConfig, whose String, GoString,
// MarshalJSON and LogValue print "[REDACTED]", and they never appear in errors.
//
// Rate limits: a secondary rate limit refusal (403/429 with Retry-After) is waited out and
// retried when the wait is at most Config.MaxRetryWait, at most Config.MaxRetries times; a longer
// wait, or the primary limit being exhausted, returns a *RateLimitedError at once. The last
// known remaining budget is RateLimit().
package github

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	gh "github.com/google/go-github/v92/github"

	"github.com/hashike/hashike"
)

// DefaultAPIURL is GitHub.com's REST API.
const DefaultAPIURL = "https://api.github.com"

// Config says how to reach and authenticate to GitHub. Set either the App fields or Token.
type Config struct {
	// APIURL is the REST API root: DefaultAPIURL when empty; https://HOST/api/v3 for GHES.
	APIURL string
	// CAFile is a PEM bundle trusted in addition to the system roots (a GHES private CA).
	CAFile string

	// AppID, InstallationID and PrivateKey (PEM) authenticate as a GitHub App installation.
	AppID          int64
	InstallationID int64
	PrivateKey     []byte
	// Token is a personal access token (needed for enterprise-scope runners: GitHub refuses
	// installation tokens there).
	Token string

	// MaxRetryWait bounds a secondary-rate-limit wait that is retried: 60 s when zero.
	MaxRetryWait time.Duration
	// MaxRetries bounds the retries of one call: 3 when zero.
	MaxRetries int
	// Clock waits out Retry-After: the system clock when nil.
	Clock hashike.Clock
	// Timeout of one HTTP request: 30 s when zero.
	Timeout time.Duration
}

// EnterpriseAPIURL is the REST API root of a GitHub Enterprise Server at host.
func EnterpriseAPIURL(host string) string { return "https://" + host + "/api/v3" }

// Client is the GitHub adapter. It is safe for concurrent use.
type Client struct {
	gh        *gh.Client
	clock     hashike.Clock
	maxWait   time.Duration
	retries   int
	appTokens *ghinstallation.Transport

	mu   sync.Mutex
	rate RateLimit
}

// New builds a client. It makes no request.
func New(cfg Config) (*Client, error) {
	api := strings.TrimRight(cfg.APIURL, "/")
	if api == "" {
		api = DefaultAPIURL
	}
	if cfg.Clock == nil {
		cfg.Clock = hashike.SystemClock{}
	}
	if cfg.MaxRetryWait == 0 {
		cfg.MaxRetryWait = time.Minute
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 3
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.CAFile != "" {
		pool, err := rootCAs(cfg.CAFile)
		if err != nil {
			return nil, err
		}
		base.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	c := &Client{clock: cfg.Clock, maxWait: cfg.MaxRetryWait, retries: cfg.MaxRetries}
	opts := []gh.ClientOptionsFunc{
		gh.WithURLs(&api, &api),
		gh.WithTimeout(cfg.Timeout),
		gh.WithUserAgent("hashike"),
		// The client's own bookkeeping blocks on time.Now; this adapter keeps the budget and
		// waits on its Clock instead.
		gh.WithDisableRateLimitCheck(),
	}
	switch {
	case cfg.AppID != 0:
		if cfg.Token != "" {
			return nil, hashike.Errorf(hashike.EInvalid, "github: set either an App or a token, not both")
		}
		if cfg.InstallationID == 0 || len(cfg.PrivateKey) == 0 {
			return nil, hashike.Errorf(hashike.EInvalid, "github: an App needs its installation ID and private key")
		}
		itr, err := ghinstallation.New(base, cfg.AppID, cfg.InstallationID, cfg.PrivateKey)
		if err != nil {
			return nil, hashike.Errorf(hashike.EInvalid, "github: App private key: %v", err)
		}
		itr.BaseURL = api
		c.appTokens = itr
		opts = append(opts, gh.WithTransport(itr))
	case cfg.Token != "":
		opts = append(opts, gh.WithTransport(base), gh.WithAuthToken(cfg.Token))
	default:
		return nil, hashike.Errorf(hashike.EInvalid, "github: no credentials: set an App (ID, installation ID, private key) or a token")
	}
	client, err := gh.NewClient(opts...)
	if err != nil {
		return nil, hashike.Errorf(hashike.EInvalid, "github: API URL %q: %v", api, err)
	}
	c.gh = client
	return c, nil
}

// RateLimit is a rate limit budget as GitHub last reported it.
type RateLimit struct {
	Limit     int
	Remaining int
	Reset     time.Time
	// Known is false before the first response.
	Known bool
}

// RateLimit is the primary budget's state from the last response; it makes no request.
func (c *Client) RateLimit() RateLimit {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rate
}

// RateLimitedError says a call was refused for a rate limit and not retried.
type RateLimitedError struct {
	// Secondary is true for a secondary (abuse) limit, false for the primary budget.
	Secondary bool
	// RetryAt is when GitHub said to retry (zero when it did not say).
	RetryAt time.Time
}

func (e *RateLimitedError) Error() string {
	kind := "primary"
	if e.Secondary {
		kind = "secondary"
	}
	if e.RetryAt.IsZero() {
		return "github " + kind + " rate limit exceeded"
	}
	return fmt.Sprintf("github %s rate limit exceeded until %s", kind, e.RetryAt.UTC().Format(time.RFC3339))
}

// call runs one API call, records the rate limit from its response and retries a secondary
// rate limit refusal whose Retry-After is within bounds.
func (c *Client) call(ctx context.Context, op string, fn func() (*gh.Response, error)) error {
	for attempt := 0; ; attempt++ {
		resp, err := fn()
		if resp != nil && resp.Response != nil && resp.Header.Get("X-RateLimit-Limit") != "" {
			c.mu.Lock()
			c.rate = RateLimit{Limit: resp.Rate.Limit, Remaining: resp.Rate.Remaining, Reset: resp.Rate.Reset.Time, Known: true}
			c.mu.Unlock()
		}
		if err == nil {
			return nil
		}
		if rl, ok := errors.AsType[*gh.RateLimitError](err); ok {
			return &hashike.Error{Code: hashike.EUnavailable, Message: op,
				Err: &RateLimitedError{RetryAt: rl.Rate.Reset.Time}}
		}
		if ab, ok := errors.AsType[*gh.AbuseRateLimitError](err); ok {
			wait := ab.GetRetryAfter()
			if ab.RetryAfter == nil {
				wait = c.maxWait
			}
			if attempt >= c.retries || wait > c.maxWait {
				return &hashike.Error{Code: hashike.EUnavailable, Message: op,
					Err: &RateLimitedError{Secondary: true, RetryAt: c.clock.Now().Add(wait)}}
			}
			select {
			case <-c.clock.After(wait):
				continue
			case <-ctx.Done():
				return fmt.Errorf("%s: waiting out a secondary rate limit: %w", op, ctx.Err())
			}
		}
		return classify(op, resp, err)
	}
}

// classify maps an API error to a domain error; 404 becomes ENotFound.
func classify(op string, resp *gh.Response, err error) error {
	if resp != nil && resp.Response != nil {
		switch resp.StatusCode {
		case http.StatusNotFound:
			return &hashike.Error{Code: hashike.ENotFound, Message: op, Err: err}
		case http.StatusUnauthorized, http.StatusForbidden:
			return &hashike.Error{Code: hashike.EInvalid, Message: op + ": GitHub refused the credentials", Err: err}
		case http.StatusConflict, http.StatusUnprocessableEntity:
			return &hashike.Error{Code: hashike.EConflict, Message: op, Err: err}
		}
		if resp.StatusCode >= 500 {
			return &hashike.Error{Code: hashike.EUnavailable, Message: op, Err: err}
		}
	}
	if resp == nil {
		return &hashike.Error{Code: hashike.EUnavailable, Message: op, Err: err}
	}
	return fmt.Errorf("%s: %w", op, err)
}

func statusOf(resp *gh.Response) int {
	if resp == nil || resp.Response == nil {
		return 0
	}
	return resp.StatusCode
}

// rootCAs is the system's roots plus the PEM certificates of caFile (a GHES private CA).
func rootCAs(caFile string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("github: read CA bundle: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, hashike.Errorf(hashike.EInvalid, "github: CA bundle %s holds no PEM certificate", caFile)
	}
	return pool, nil
}
