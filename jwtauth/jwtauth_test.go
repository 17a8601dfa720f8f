package jwtauth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/jwtauth"
	"github.com/golang-jwt/jwt/v5"
)

// projects is a ProjectLister whose projects a test changes, counting
// its reads.
type projects struct {
	mu    sync.Mutex
	list  []*engram.Project
	reads atomic.Int32
}

func (p *projects) ListProjects(context.Context) ([]*engram.Project, error) {
	p.reads.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*engram.Project, len(p.list))
	for i, pr := range p.list {
		c := *pr
		out[i] = &c
	}
	return out, nil
}

func (p *projects) set(list ...*engram.Project) {
	p.mu.Lock()
	p.list = list
	p.mu.Unlock()
}

const issuer = "https://login.example/"

// provider serves one RSA key's set on loopback; fetches counts the reads.
func provider(t *testing.T) (*rsa.PrivateKey, *httptest.Server, *atomic.Int32) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var fetches atomic.Int32
	b64 := base64.RawURLEncoding.EncodeToString
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{"kty": "RSA", "kid": "k1", "alg": "RS256",
			"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes())}}})
	}))
	t.Cleanup(srv.Close)
	return key, srv, &fetches
}

func token(t *testing.T, key *rsa.PrivateKey, aud, user string) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": issuer, "aud": aud, "sub": user, "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func project(id, jwksURL, aud string, role engram.Role) *engram.Project {
	return &engram.Project{ID: id, Name: id, Auth: engram.ProjectAuth{JWT: engram.JWTAuth{JWKSURL: jwksURL, Issuer: issuer, Audience: aud, UserClaim: "sub", Role: role}}}
}

// TestAudienceChoosesProject: projects sharing an issuer are told apart by
// audience; should two ever accept the same token, neither gets it.
func TestAudienceChoosesProject(t *testing.T) {
	key, idp, _ := provider(t)
	ps := &projects{}
	ps.set(project("proj_a", idp.URL, "app-a", engram.RoleInvoker), project("proj_b", idp.URL, "app-b", engram.RoleDeveloper), &engram.Project{ID: "proj_keys_only"})
	a := &jwtauth.Authenticator{Projects: ps}
	t.Cleanup(a.Close)
	ctx := context.Background()
	for _, tt := range []struct {
		aud, project string
		role         engram.Role
	}{{"app-a", "proj_a", engram.RoleInvoker}, {"app-b", "proj_b", engram.RoleDeveloper}} {
		k, err := a.AuthenticateToken(ctx, token(t, key, tt.aud, "ada"))
		if err != nil {
			t.Fatalf("%s: %v", tt.aud, err)
		}
		if k.ProjectID != tt.project || k.Role != tt.role || k.User != "ada" || k.ID != engram.JWTKeyID {
			t.Errorf("%s: key %+v", tt.aud, k)
		}
	}
	// Stored as admin somehow (not through the API): still not admin.
	ps.set(project("proj_a", idp.URL, "app-a", engram.RoleAdmin))
	a.ProjectsChanged()
	if k, err := a.AuthenticateToken(ctx, token(t, key, "app-a", "ada")); err != nil || k.Role != engram.RoleInvoker {
		t.Errorf("a stored admin role: %+v %v", k, err)
	}

	ps.set(project("proj_a", idp.URL, "app-a", engram.RoleInvoker), project("proj_b", idp.URL, "app-a", engram.RoleInvoker))
	a.ProjectsChanged()
	_, err := a.AuthenticateToken(ctx, token(t, key, "app-a", "ada"))
	if engram.ErrorCode(err) != engram.EUnauthorized || strings.Contains(err.Error(), "proj_") {
		t.Errorf("a token two projects accept: %v", err)
	}
}

// TestProjectsReloaded: a change made on another node (not announced by
// ProjectsChanged) applies once the cache is older than ProjectsMaxAge.
func TestProjectsReloaded(t *testing.T) {
	key, idp, _ := provider(t)
	ps := &projects{}
	var now atomic.Int64
	now.Store(time.Now().Unix())
	a := &jwtauth.Authenticator{Projects: ps, ProjectsMaxAge: time.Minute, Now: func() time.Time { return time.Unix(now.Load(), 0) }}
	t.Cleanup(a.Close)
	ctx := context.Background()
	tok := token(t, key, "app", "ada")
	if _, err := a.AuthenticateToken(ctx, tok); engram.ErrorCode(err) != engram.EUnauthorized {
		t.Fatalf("no project trusts the issuer yet: %v", err)
	}
	ps.set(project("proj_a", idp.URL, "app", engram.RoleInvoker))
	if _, err := a.AuthenticateToken(ctx, tok); err == nil {
		t.Errorf("the cache was read again before ProjectsMaxAge (reads: %d)", ps.reads.Load())
	}
	now.Add(61)
	if k, err := a.AuthenticateToken(ctx, tok); err != nil || k.ProjectID != "proj_a" {
		t.Errorf("after ProjectsMaxAge: %+v %v", k, err)
	}
	if ps.reads.Load() != 2 {
		t.Errorf("the projects were read %d times, want 2", ps.reads.Load())
	}
}

// TestKeySetOnlyFromItsURL: a key set URL that redirects is not followed,
// so a token cannot be verified with keys from anywhere else.
func TestKeySetOnlyFromItsURL(t *testing.T) {
	key, idp, fetches := provider(t)
	redirect := httptest.NewServer(http.RedirectHandler(idp.URL, http.StatusFound))
	t.Cleanup(redirect.Close)
	ps := &projects{}
	ps.set(project("proj_a", redirect.URL, "app", engram.RoleInvoker))
	a := &jwtauth.Authenticator{Projects: ps}
	t.Cleanup(a.Close)
	_, err := a.AuthenticateToken(context.Background(), token(t, key, "app", "ada"))
	if engram.ErrorCode(err) != engram.EUnauthorized {
		t.Errorf("verified with keys from a redirect: %v", err)
	}
	if fetches.Load() != 0 {
		t.Errorf("the redirect was followed %d times", fetches.Load())
	}
}

// FuzzAuthenticateToken: no bearer string is accepted unless it is signed
// by the provider, and none panics.
func FuzzAuthenticateToken(f *testing.F) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{"kty": "RSA", "kid": "k1", "alg": "RS256",
			"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes())}}})
	}))
	defer idp.Close()
	ps := &projects{}
	ps.set(project("proj_a", idp.URL, "app", engram.RoleInvoker))
	a := &jwtauth.Authenticator{Projects: ps}
	defer a.Close()
	valid := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": issuer, "aud": "app", "sub": "ada", "exp": time.Now().Add(time.Hour).Unix()})
	valid.Header["kid"] = "k1"
	signed, err := valid.SignedString(key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2xvZ2luLmV4YW1wbGUvIiwiYXVkIjoiYXBwIiwic3ViIjoiYWRhIn0.")
	f.Add("eyJ.x.y")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := a.AuthenticateToken(context.Background(), s)
		if err == nil && s != signed {
			t.Errorf("accepted a token the provider did not sign: %q -> %+v", s, k)
		}
		if err != nil && engram.ErrorCode(err) != engram.EUnauthorized {
			t.Errorf("a bad token is not unauthorized: %v", err)
		}
	})
}

// TestKeySetOutage: a provider down at the first token is asked again at
// the next (paced by UnknownKIDRefresh); one down at a refetch leaves the
// keys fetched before in use.
func TestKeySetOutage(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	down.Store(true)
	b64 := base64.RawURLEncoding.EncodeToString
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{"kty": "RSA", "kid": "k1", "alg": "RS256",
			"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes())}}})
	}))
	t.Cleanup(idp.Close)
	ps := &projects{}
	ps.set(project("proj_a", idp.URL, "app", engram.RoleInvoker))
	a := &jwtauth.Authenticator{Projects: ps, UnknownKIDRefresh: time.Nanosecond}
	t.Cleanup(a.Close)
	ctx := context.Background()
	tok := token(t, key, "app", "ada")
	if _, err := a.AuthenticateToken(ctx, tok); engram.ErrorCode(err) != engram.EUnauthorized || !strings.Contains(err.Error(), "unavailable") {
		t.Fatalf("provider down: %v", err)
	}
	down.Store(false)
	if k, err := a.AuthenticateToken(ctx, tok); err != nil || k.User != "ada" {
		t.Fatalf("provider back: %+v %v", k, err)
	}
	down.Store(true)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	unknown := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": issuer, "aud": "app", "sub": "ada", "exp": time.Now().Add(time.Hour).Unix()})
	unknown.Header["kid"] = "k2"
	s, err := unknown.SignedString(other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.AuthenticateToken(ctx, s); engram.ErrorCode(err) != engram.EUnauthorized {
		t.Errorf("unknown kid while the provider is down: %v", err)
	}
	if k, err := a.AuthenticateToken(ctx, tok); err != nil || k.User != "ada" {
		t.Errorf("a failed refetch dropped the keys fetched before: %+v %v", k, err)
	}
}
