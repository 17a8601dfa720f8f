// Package jwtauth verifies the JWTs of the identity providers projects
// trust (engram.ProjectAuth.JWT), so that a front-end can call Engram with
// its users' own tokens: each token acts for the end user it names, in the
// one project that trusts its issuer and audience. Keys are read from each
// provider's JSON Web Key Set, cached, and fetched again when a token names
// a key id not seen yet (at most once a minute per project).
package jwtauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/engram-run/engram"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Algorithms are the signatures accepted. Never "none", and never HMAC: an
// HMAC "key" would be the provider's public key bytes, which anyone has.
var Algorithms = []string{"RS256", "ES256", "EdDSA"}

// Defaults of Authenticator's fields.
const (
	DefaultLeeway            = 30 * time.Second
	DefaultProjectsMaxAge    = 30 * time.Second
	DefaultUnknownKIDRefresh = time.Minute
	DefaultFetchTimeout      = 10 * time.Second
	maxKeySetBytes           = 1 << 20
)

// ProjectLister is the part of engram.Store the authenticator reads.
type ProjectLister interface {
	ListProjects(ctx context.Context) ([]*engram.Project, error)
}

// Authenticator implements engram.TokenAuthenticator. Its zero value is
// not usable: set Projects; Close stops its key-set refreshes.
type Authenticator struct {
	Projects ProjectLister
	// Client fetches key sets; nil is a client that follows no redirect and
	// uses no proxy, so a key set is read only from the URL configured.
	Client *http.Client
	Logger *slog.Logger
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway time.Duration
	// ProjectsMaxAge bounds how long a project's configuration changed on
	// another node may take to apply here (ProjectsChanged applies a change
	// made on this node at once).
	ProjectsMaxAge time.Duration
	// UnknownKIDRefresh is the least time between two fetches of a key set
	// made because a token named a key id it does not hold.
	UnknownKIDRefresh time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time

	initOnce sync.Once
	ctx      context.Context
	cancel   context.CancelFunc

	mu       sync.Mutex
	projects []*engram.Project // those with JWT auth, in creation order
	loadedAt time.Time
	changes  int                // ProjectsChanged calls; a load counts as fresh only if none came during it
	loaded   int                // changes when the cache was loaded
	keySets  map[string]*keySet // by project id
}

// keySet is one project's provider's keys, fetched on first use.
type keySet struct {
	url     string
	prev    *keySet              // the set this one replaces, until fetched
	cancels []context.CancelFunc // end its refreshes
	// refetch paces the fetches made because a token named an unknown kid.
	refetch *rate.Limiter
	once    sync.Once
	kf      keyfunc.Keyfunc
	err     error
}

func (a *Authenticator) init() {
	a.initOnce.Do(func() {
		a.ctx, a.cancel = context.WithCancel(context.Background())
		a.keySets = map[string]*keySet{}
		if a.Logger == nil {
			a.Logger = slog.New(slog.DiscardHandler)
		}
		if a.Client == nil {
			a.Client = &http.Client{
				Timeout:   DefaultFetchTimeout,
				Transport: &http.Transport{Proxy: nil, ResponseHeaderTimeout: DefaultFetchTimeout},
				CheckRedirect: func(*http.Request, []*http.Request) error {
					return errors.New("a JSON Web Key Set URL must answer itself, not redirect")
				},
			}
		}
		if a.Leeway == 0 {
			a.Leeway = DefaultLeeway
		}
		if a.ProjectsMaxAge == 0 {
			a.ProjectsMaxAge = DefaultProjectsMaxAge
		}
		if a.UnknownKIDRefresh == 0 {
			a.UnknownKIDRefresh = DefaultUnknownKIDRefresh
		}
		if a.Now == nil {
			a.Now = time.Now
		}
	})
}

// Close stops the background refreshes of every key set.
func (a *Authenticator) Close() {
	a.init()
	a.cancel()
}

// ProjectsChanged implements engram.TokenAuthenticator.
func (a *Authenticator) ProjectsChanged() {
	a.init()
	a.mu.Lock()
	a.changes++
	a.mu.Unlock()
}

func unauthorized(format string, args ...any) error {
	return engram.Errorf(engram.EUnauthorized, format, args...)
}

// AuthenticateToken implements engram.TokenAuthenticator.
func (a *Authenticator) AuthenticateToken(ctx context.Context, token string) (*engram.APIKey, error) {
	a.init()
	// Which project a token is for is read from its unverified claims, then
	// everything is verified with that project's configuration: a forged
	// claim only chooses which key set its signature fails against.
	unverified := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, unverified); err != nil {
		return nil, unauthorized("The bearer token is neither an Engram API key nor a well-formed JWT.")
	}
	iss, _ := unverified["iss"].(string)
	if iss == "" {
		return nil, unauthorized("The JWT has no issuer (iss).")
	}
	auds, _ := unverified.GetAudience()
	candidates, err := a.projectsFor(ctx, iss)
	if err != nil {
		return nil, err
	}
	if len(candidates) == 0 {
		return nil, unauthorized("The JWT's issuer is not trusted here.")
	}
	var p *engram.Project
	for _, c := range candidates {
		if slices.Contains(auds, c.Auth.JWT.Audience) {
			if p != nil {
				// Configuration forbids it; should two nodes have raced to
				// allow it, no project gets the token rather than the wrong one.
				return nil, unauthorized("The JWT's issuer and audience are trusted by more than one project; ask the operator.")
			}
			p = c
		}
	}
	if p == nil {
		return nil, unauthorized("The JWT's audience is not accepted.")
	}
	conf := p.Auth.JWT.WithDefaults()
	ks := a.keySetOf(p.ID, conf.JWKSURL, nil)
	claims, err := a.verify(ctx, ks, token, conf)
	if (ks.err != nil || errors.Is(err, jwt.ErrTokenUnverifiable)) && ks.refetch.Allow() {
		// The set could not be fetched, or the token names a key id it
		// does not hold: the provider may have rotated in a new key since.
		// Fetch it again, once in a while at most, so a stream of made-up
		// kids neither keeps the provider busy nor holds requests waiting.
		ks = a.keySetOf(p.ID, conf.JWKSURL, ks)
		claims, err = a.verify(ctx, ks, token, conf)
	}
	if err != nil {
		return nil, verifyError(err)
	}
	user, _ := claims[conf.UserClaim].(string)
	if user == "" {
		return nil, unauthorized("The JWT has no '%s' claim naming the user (a non-empty string).", conf.UserClaim)
	}
	role := conf.Role
	if role != engram.RoleDeveloper {
		role = engram.RoleInvoker // whatever was stored, a JWT never grants more
	}
	return &engram.APIKey{ID: engram.JWTKeyID, ProjectID: p.ID, Name: "jwt", Role: role, User: user}, nil
}

// verify checks token with the key set of the project configured by conf.
func (a *Authenticator) verify(ctx context.Context, ks *keySet, token string, conf engram.JWTAuth) (jwt.MapClaims, error) {
	if ks.err != nil || ks.kf == nil { // kf is nil in a set dropped before it was fetched
		a.Logger.Warn("JWT key set unavailable", "url", conf.JWKSURL, "err", ks.err)
		return nil, unauthorized("The JWT could not be verified: the identity provider's keys are unavailable.")
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, ks.kf.KeyfuncCtx(ctx),
		jwt.WithValidMethods(Algorithms),
		jwt.WithIssuer(conf.Issuer),
		jwt.WithAudience(conf.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(a.Leeway),
		jwt.WithStrictDecoding(), // one token, one spelling: no malleable base64
		jwt.WithTimeFunc(a.Now),
	)
	return claims, err
}

// verifyError says why a token failed, in words fit for its holder.
func verifyError(err error) error {
	if engram.ErrorCode(err) == engram.EUnauthorized {
		return err
	}
	var why string
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		why = "it is malformed"
	case errors.Is(err, jwt.ErrTokenExpired):
		why = "it has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		why = "it is not valid yet (nbf)"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		why = "it was issued in the future (iat)"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		why = "its audience is not accepted"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		why = "its issuer is not trusted"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		why = "it has no expiry (exp)"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		why = "no key of the identity provider matches it (kid)"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		why = "its signature is invalid or its algorithm is not accepted (RS256, ES256, EdDSA)"
	default:
		why = "it is invalid"
	}
	return unauthorized("The JWT was refused: %s.", why)
}

// projectsFor returns the projects trusting issuer, from a cache reloaded
// when a project changed here or when it is older than ProjectsMaxAge.
func (a *Authenticator) projectsFor(ctx context.Context, issuer string) ([]*engram.Project, error) {
	a.mu.Lock()
	fresh := a.loaded == a.changes && !a.loadedAt.IsZero() && a.Now().Sub(a.loadedAt) < a.ProjectsMaxAge
	changes := a.changes
	a.mu.Unlock()
	if !fresh {
		all, err := a.Projects.ListProjects(ctx)
		if err != nil {
			return nil, err
		}
		var withJWT []*engram.Project
		for _, p := range all {
			if p.Auth.JWT.Enabled() {
				withJWT = append(withJWT, p)
			}
		}
		a.mu.Lock()
		a.projects, a.loadedAt, a.loaded = withJWT, a.Now(), changes
		a.mu.Unlock()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []*engram.Project
	for _, p := range a.projects {
		if p.Auth.JWT.Issuer == issuer {
			out = append(out, p)
		}
	}
	return out, nil
}

// keySetOf returns the project's key set, fetching it on first use. A key
// set whose URL changed is dropped and fetched anew; so is stale, when it
// is still the project's (requests asking together to refresh the same set
// fetch it once). A fetch that fails keeps the keys fetched before, if any.
func (a *Authenticator) keySetOf(projectID, url string, stale *keySet) *keySet {
	a.mu.Lock()
	ks := a.keySets[projectID]
	if ks == nil || ks.url != url || ks == stale {
		next := &keySet{url: url, refetch: rate.NewLimiter(rate.Every(a.UnknownKIDRefresh), 1)}
		if ks != nil && ks.url == url {
			next.refetch = ks.refetch // the pace of refetches outlives a set
			if ks.err == nil {
				next.prev = ks
			}
		} else if ks != nil {
			go func(old *keySet) {
				old.once.Do(func() {}) // wait for a fetch under way, or forestall one
				old.stop()
			}(ks)
		}
		ks = next
		a.keySets[projectID] = ks
	}
	a.mu.Unlock()
	ks.once.Do(func() {
		ctx, cancel := context.WithCancel(a.ctx)
		client := *a.Client
		client.Transport = limitedBody{next: a.Client.Transport}
		failFirst := false
		kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{url}, keyfunc.Override{
			Client:                    &client,
			HTTPTimeout:               DefaultFetchTimeout,
			NoErrorReturnFirstHTTPReq: &failFirst,
			// AuthenticateToken decides when to fetch again for an unknown
			// kid; the library's own refetch would share the request's
			// deadline with its wait.
			RefreshUnknownKID: rate.NewLimiter(0, 0),
			RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
				return func(_ context.Context, err error) {
					a.Logger.Warn("JWT key set refresh failed", "project", projectID, "url", u, "err", err)
				}
			},
		})
		switch {
		case err == nil:
			ks.kf, ks.cancels = kf, []context.CancelFunc{cancel}
			if ks.prev != nil {
				ks.prev.stop()
			}
		case ks.prev != nil:
			a.Logger.Warn("JWT key set fetch failed; keeping the keys fetched before", "project", projectID, "url", url, "err", err)
			cancel()
			ks.kf, ks.cancels = ks.prev.kf, ks.prev.cancels
		default:
			cancel()
			ks.err = err
		}
		ks.prev = nil
	})
	return ks
}

// stop ends the background refreshes of ks's keys.
func (ks *keySet) stop() {
	for _, cancel := range ks.cancels {
		cancel()
	}
}

// limitedBody bounds what a key set may weigh.
type limitedBody struct{ next http.RoundTripper }

func (l limitedBody) RoundTrip(r *http.Request) (*http.Response, error) {
	next := l.next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > maxKeySetBytes {
		resp.Body.Close()
		return nil, fmt.Errorf("the key set is larger than %d bytes", maxKeySetBytes)
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, maxKeySetBytes), resp.Body}
	return resp, nil
}

var _ engram.TokenAuthenticator = (*Authenticator)(nil)
