package http_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engram-run/engram"
	enghttp "github.com/engram-run/engram/http"
	"github.com/engram-run/engram/jwtauth"
	"github.com/engram-run/engram/sqlite"
	"github.com/golang-jwt/jwt/v5"
)

// TestProjectsAPI: the operator project's admins manage every project;
// any other admin sees and changes its own only, and another project is
// 404, never "forbidden".
func TestProjectsAPI(t *testing.T) {
	e := newEnv(t)
	mine, theirs := e.projects["mine"], e.projects["theirs"]
	e.do(t, "theirs/admin", "POST", "/v1/agents", `{"name":"their-agent","model":"scripted/echo"}`)
	e.do(t, "theirs/admin", "POST", "/v1/conversations", `{"items":[{"role":"user","content":"secret plans"}]}`)

	status, body := e.do(t, "mine/admin", "POST", "/v1/projects", `{"name":"orchard","retention":{"conversations_days":30}}`)
	if status != 200 {
		t.Fatalf("operator creates a project: %d %s", status, body)
	}
	var created struct {
		ID        string `json:"id"`
		Object    string `json:"object"`
		Name      string `json:"name"`
		Operator  bool   `json:"operator"`
		Retention struct {
			ConversationsDays int `json:"conversations_days"`
		} `json:"retention"`
		Key struct {
			Key, Role, ProjectID string
		} `json:"key"`
	}
	if err := json.Unmarshal([]byte(body), &created); err != nil {
		t.Fatal(err)
	}
	if created.Object != "project" || created.Name != "orchard" || created.Operator || created.Retention.ConversationsDays != 30 ||
		!strings.HasPrefix(created.Key.Key, engram.KeyPrefix) || created.Key.Role != "admin" {
		t.Fatalf("created project: %s", body)
	}
	e.keys["orchard/admin"] = created.Key.Key

	// The new project's key sees nothing of the others.
	for _, path := range []string{"/v1/agents", "/v1/conversations"} {
		status, body := e.do(t, "orchard/admin", "GET", path, ``)
		if status != 200 || !strings.Contains(body, `"data":[]`) {
			t.Errorf("a new project's key lists %s: %d %s", path, status, body)
		}
	}
	status, body = e.do(t, "orchard/admin", "POST", "/v1/responses", `{"model":"agent/their-agent","input":"hi"}`)
	if status == 200 || strings.Contains(body, "secret plans") {
		t.Errorf("a new project's key used another project's agent: %d %s", status, body)
	}
	if status, body := e.do(t, "orchard/admin", "GET", "/v1/keys", ``); status != 200 || strings.Count(body, `"object":"api_key"`) != 1 {
		t.Errorf("the new project's keys: %d %s", status, body)
	}

	tests := []struct {
		name, key, method, path, body string
		status                        int
		contains                      string
	}{
		{"non-operator admin creates", "theirs/admin", "POST", "/v1/projects", `{"name":"x"}`, 403, `operator project`},
		{"new project's admin creates", "orchard/admin", "POST", "/v1/projects", `{"name":"x"}`, 403, `operator project`},
		{"developer creates", "mine/developer", "POST", "/v1/projects", `{"name":"x"}`, 403, `insufficient_role`},
		{"no name", "mine/admin", "POST", "/v1/projects", `{}`, 400, `"param":"name"`},
		{"blank name", "mine/admin", "POST", "/v1/projects", `{"name":"  "}`, 400, `"param":"name"`},
		{"unknown field", "mine/admin", "POST", "/v1/projects", `{"name":"x","owner":"me"}`, 400, `"param":"owner"`},
		{"unknown retention field", "mine/admin", "POST", "/v1/projects", `{"name":"x","retention":{"forever":true}}`, 400, `forever`},
		{"bad retention", "mine/admin", "POST", "/v1/projects", `{"name":"x","retention":{"events_days":-1}}`, 400, `"param":"retention.events_days"`},
		{"admin JWT role", "mine/admin", "POST", "/v1/projects", `{"name":"x","auth":{"jwt":{"jwks_url":"https://idp.example/jwks","issuer":"i","audience":"a","role":"admin"}}}`, 400, `"param":"auth.jwt.role"`},
		{"JWT without audience", "mine/admin", "POST", "/v1/projects", `{"name":"x","auth":{"jwt":{"jwks_url":"https://idp.example/jwks","issuer":"i"}}}`, 400, `"param":"auth.jwt.audience"`},
		{"JWT with a bad URL", "mine/admin", "POST", "/v1/projects", `{"name":"x","auth":{"jwt":{"jwks_url":"file:///etc/passwd","issuer":"i","audience":"a"}}}`, 400, `"param":"auth.jwt.jwks_url"`},
		{"operator reads another", "mine/admin", "GET", "/v1/projects/" + theirs, ``, 200, `"name":"theirs"`},
		{"operator reads its own", "mine/admin", "GET", "/v1/projects/" + mine, ``, 200, `"operator":true`},
		{"admin reads its own", "theirs/admin", "GET", "/v1/projects/" + theirs, ``, 200, `"operator":false`},
		{"admin reads the operator's", "theirs/admin", "GET", "/v1/projects/" + mine, ``, 404, `not_found`},
		{"admin reads another", "theirs/admin", "GET", "/v1/projects/" + created.ID, ``, 404, `not_found`},
		{"admin reads a missing one", "theirs/admin", "GET", "/v1/projects/proj_nope", ``, 404, `not_found`},
		{"operator reads a missing one", "mine/admin", "GET", "/v1/projects/proj_nope", ``, 404, `not_found`},
		{"admin renames another", "theirs/admin", "POST", "/v1/projects/" + created.ID, `{"name":"mine now"}`, 404, `not_found`},
		{"admin renames its own", "theirs/admin", "POST", "/v1/projects/" + theirs, `{"name":"theirs, renamed"}`, 200, `"name":"theirs, renamed"`},
		{"operator renames another", "mine/admin", "POST", "/v1/projects/" + created.ID, `{"name":"orchard 2"}`, 200, `"name":"orchard 2"`},
		{"developer reads its project", "theirs/developer", "GET", "/v1/projects/" + theirs, ``, 403, `insufficient_role`},
		{"admin lists", "theirs/admin", "GET", "/v1/projects", ``, 200, `"name":"theirs, renamed"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.do(t, tt.key, tt.method, tt.path, tt.body)
			if status != tt.status || !strings.Contains(body, tt.contains) {
				t.Errorf("%s %s: %d %s\nwant %d with %s", tt.method, tt.path, status, body, tt.status, tt.contains)
			}
			if status >= 400 && !strings.Contains(body, `"error":{"message":`) {
				t.Errorf("error body is not OpenAI-shaped: %s", body)
			}
		})
	}

	// A non-operator admin's list is its own project only; the operator's
	// is every project.
	_, body = e.do(t, "theirs/admin", "GET", "/v1/projects", ``)
	if strings.Count(body, `"object":"project"`) != 1 || strings.Contains(body, mine) || strings.Contains(body, created.ID) {
		t.Errorf("a non-operator admin lists: %s", body)
	}
	_, body = e.do(t, "mine/admin", "GET", "/v1/projects", ``)
	if strings.Count(body, `"object":"project"`) != 3 || !strings.Contains(body, `"name":"orchard 2"`) {
		t.Errorf("the operator lists: %s", body)
	}
	// Refused requests changed nothing, and nothing was half-made.
	projects, err := e.store.ListProjects(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(projects) != 3 {
		t.Errorf("%d projects after refused creations, want 3", len(projects))
	}
	got, err := e.store.GetProject(t.Context(), created.ID)
	if err != nil || got.Name != "orchard 2" || got.Retention.ConversationsDays != 30 {
		t.Errorf("the created project now: %+v %v", got, err)
	}
}

// idp is an identity provider: signing keys and a JSON Web Key Set
// served on 127.0.0.1, whose keys can be rotated.
type idp struct {
	t       *testing.T
	srv     *httptest.Server
	rsa     *rsa.PrivateKey
	ec      *ecdsa.PrivateKey
	ed      ed25519.PrivateKey
	mu      sync.Mutex
	keys    []map[string]string // the published set
	fetches atomic.Int32
}

func newIDP(t *testing.T) *idp {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := &idp{t: t, rsa: rsaKey, ec: ecKey, ed: edKey}
	p.publish("rsa1", &rsaKey.PublicKey)
	p.publish("ec1", &ecKey.PublicKey)
	p.publish("ed1", edKey.Public())
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/jwks.json" {
			http.NotFound(w, r)
			return
		}
		p.fetches.Add(1)
		p.mu.Lock()
		defer p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"keys": p.keys})
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// publish adds a public key to the served set under kid.
func (p *idp) publish(kid string, pub crypto.PublicKey) {
	var jwk map[string]string
	switch k := pub.(type) {
	case *rsa.PublicKey:
		jwk = map[string]string{"kty": "RSA", "alg": "RS256", "use": "sig", "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
	case *ecdsa.PublicKey:
		raw, err := k.Bytes() // 0x04, then x and y of 32 bytes each
		if err != nil {
			p.t.Fatal(err)
		}
		x, y := raw[1:33], raw[33:65]
		jwk = map[string]string{"kty": "EC", "alg": "ES256", "use": "sig", "crv": "P-256", "x": b64(x), "y": b64(y)}
	case ed25519.PublicKey:
		jwk = map[string]string{"kty": "OKP", "alg": "EdDSA", "use": "sig", "crv": "Ed25519", "x": b64(k)}
	}
	jwk["kid"] = kid
	p.mu.Lock()
	p.keys = append(p.keys, jwk)
	p.mu.Unlock()
}

func (p *idp) url() string    { return p.srv.URL + "/jwks.json" }
func (p *idp) issuer() string { return "https://login.example/" }

// claims are a valid token's claims for user, changed by edit.
func (p *idp) claims(user string, edit func(jwt.MapClaims)) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{"iss": p.issuer(), "aud": "hives-app", "sub": user, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	if edit != nil {
		edit(c)
	}
	return c
}

func (p *idp) sign(method jwt.SigningMethod, kid string, key any, claims jwt.MapClaims) string {
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}

// newJWTEnv is an env whose "theirs" project trusts the idp (set through
// the API, as its admin would).
func newJWTEnv(t *testing.T) (*env, *idp) {
	p := newIDP(t)
	e := newEnvConfigured(t, nil, func(api *enghttp.Server, db *sqlite.DB) {
		auth := &jwtauth.Authenticator{Projects: db}
		t.Cleanup(auth.Close)
		api.Tokens = auth
	})
	status, body := e.do(t, "theirs/admin", "POST", "/v1/projects/"+e.projects["theirs"],
		`{"auth":{"jwt":{"jwks_url":"`+p.url()+`","issuer":"`+p.issuer()+`","audience":"hives-app"}}}`)
	if status != 200 || !strings.Contains(body, `"user_claim":"sub"`) || !strings.Contains(body, `"role":"invoker"`) {
		t.Fatalf("setting JWT auth: %d %s", status, body)
	}
	return e, p
}

func TestJWT(t *testing.T) {
	e, p := newJWTEnv(t)
	ada := p.sign(jwt.SigningMethodRS256, "rsa1", p.rsa, p.claims("ada", nil))
	e.keys["jwt/ada"] = ada

	// The token acts in the project that trusts it, as a key bound to ada.
	status, body := e.do(t, "jwt/ada", "POST", "/v1/responses", `{"model":"scripted/echo","input":"hello from ada"}`)
	if status != 200 || !strings.Contains(body, `"status":"completed"`) {
		t.Fatalf("RS256 token: %d %s", status, body)
	}
	respID := id(body)
	if _, err := e.store.GetResponse(t.Context(), e.projects["theirs"], respID); err != nil {
		t.Errorf("the response is not in the trusting project: %v", err)
	}
	if _, err := e.store.GetResponse(t.Context(), e.projects["mine"], respID); err == nil {
		t.Errorf("the response landed in another project")
	}
	_, adaConv := e.do(t, "jwt/ada", "POST", "/v1/conversations", `{}`)
	if !strings.Contains(adaConv, `"user":"ada"`) && !strings.Contains(adaConv, id(adaConv)) {
		t.Errorf("conversation: %s", adaConv)
	}
	_, bobConv := e.do(t, "theirs/admin", "POST", "/v1/conversations", `{"user":"bob","items":[{"role":"user","content":"bob's secret"}]}`)

	e.keys["jwt/ec"] = p.sign(jwt.SigningMethodES256, "ec1", p.ec, p.claims("ada", nil))
	e.keys["jwt/ed"] = p.sign(jwt.SigningMethodEdDSA, "ed1", p.ed, p.claims("ada", nil))
	e.keys["jwt/nokid"] = p.sign(jwt.SigningMethodES256, "", p.ec, p.claims("ada", nil))
	// The key set had no need to be fetched again for any of these.
	fetchesBefore := p.fetches.Load()

	pubDER, err := x509.MarshalPKIXPublicKey(&p.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	parts := strings.Split(ada, ".")
	forged := parts[0] + "." + b64([]byte(`{"iss":"`+p.issuer()+`","aud":"hives-app","sub":"bob","exp":`+jsonNum(time.Now().Add(time.Hour).Unix())+`}`)) + "." + parts[2]
	stranger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	refused := []struct {
		name, token, says string
	}{
		{"expired", p.sign(jwt.SigningMethodRS256, "rsa1", p.rsa, p.claims("ada", func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })), "expired"},
		{"not yet valid", p.sign(jwt.SigningMethodRS256, "rsa1", p.rsa, p.claims("ada", func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() })), "not valid yet"},
		{"issued in the future", p.sign(jwt.SigningMethodRS256, "rsa1", p.rsa, p.claims("ada", func(c jwt.MapClaims) { c["iat"] = time.Now().Add(time.Hour).Unix() })), "issued in the future"},
		{"no expiry", p.sign(jwt.SigningMethodRS256, "rsa1", p.rsa, p.claims("ada", func(c jwt.MapClaims) { delete(c, "exp") })), "no expiry"},
		{"wrong issuer", p.sign(jwt.SigningMethodRS256, "rsa1", p.rsa, p.claims("ada", func(c jwt.MapClaims) { c["iss"] = "https://evil.example/" })), "issuer is not trusted"},
		{"no issuer", p.sign(jwt.SigningMethodRS256, "rsa1", p.rsa, p.claims("ada", func(c jwt.MapClaims) { delete(c, "iss") })), "no issuer"},
		{"wrong audience", p.sign(jwt.SigningMethodRS256, "rsa1", p.rsa, p.claims("ada", func(c jwt.MapClaims) { c["aud"] = "another-app" })), "audience is not accepted"},
		{"unknown kid", p.sign(jwt.SigningMethodRS256, "rsa-unknown", stranger, p.claims("ada", nil)), "no key of the identity provider"},
		{"known kid, another key", p.sign(jwt.SigningMethodRS256, "rsa1", stranger, p.claims("ada", nil)), "signature is invalid"},
		{"no kid, another key", p.sign(jwt.SigningMethodES256, "", otherEC, p.claims("ada", nil)), "refused"},
		{"tampered payload", forged, "signature is invalid"},
		{"alg none", p.sign(jwt.SigningMethodNone, "rsa1", jwt.UnsafeAllowNoneSignatureType, p.claims("ada", nil)), "algorithm is not accepted"},
		{"HS256 with the public key", p.sign(jwt.SigningMethodHS256, "rsa1", pubPEM, p.claims("ada", nil)), "algorithm is not accepted"},
		{"HS256 with the JWK's modulus", p.sign(jwt.SigningMethodHS256, "rsa1", p.rsa.N.Bytes(), p.claims("ada", nil)), "algorithm is not accepted"},
		{"no user claim", p.sign(jwt.SigningMethodRS256, "rsa1", p.rsa, p.claims("ada", func(c jwt.MapClaims) { delete(c, "sub") })), "'sub' claim"},
		{"empty user claim", p.sign(jwt.SigningMethodRS256, "rsa1", p.rsa, p.claims("", nil)), "'sub' claim"},
		{"garbage", "eyJhbGciOiJSUzI1NiJ9.not-json.sig", "well-formed JWT"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			e.keys["jwt/bad"] = tt.token
			status, body := e.do(t, "jwt/bad", "GET", "/v1/conversations", ``)
			if status != 401 || !strings.Contains(body, `"code":"invalid_api_key"`) || !strings.Contains(body, tt.says) {
				t.Errorf("%d %s\nwant 401 invalid_api_key saying %q", status, body, tt.says)
			}
			if strings.Contains(body, e.projects["theirs"]) || strings.Contains(body, "theirs") {
				t.Errorf("a refusal names a project: %s", body)
			}
		})
	}

	accepted := []struct {
		name, key, method, path, body string
		status                        int
		contains                      string
	}{
		{"ES256", "jwt/ec", "GET", "/v1/conversations", ``, 200, id(adaConv)},
		{"EdDSA", "jwt/ed", "GET", "/v1/conversations", ``, 200, id(adaConv)},
		{"no kid: any key of the set", "jwt/nokid", "GET", "/v1/conversations", ``, 200, id(adaConv)},
		{"reads own conversation", "jwt/ada", "GET", "/v1/conversations/" + id(adaConv), ``, 200, `"user":"ada"`},
		{"cannot read another user's", "jwt/ada", "GET", "/v1/conversations/" + id(bobConv), ``, 404, `not found`},
		{"cannot list another user's", "jwt/ada", "GET", "/v1/conversations?user=bob", ``, 403, `"param":"user"`},
		{"cannot act as another user", "jwt/ada", "POST", "/v1/responses", `{"model":"scripted/echo","input":"x","user":"bob"}`, 403, `"param":"user"`},
		{"invoker role: no agents", "jwt/ada", "POST", "/v1/agents", `{"name":"x","model":"scripted/echo"}`, 403, `insufficient_role`},
		{"invoker role: no keys", "jwt/ada", "GET", "/v1/keys", ``, 403, `insufficient_role`},
		{"invoker role: no projects", "jwt/ada", "POST", "/v1/projects/" + e.projects["theirs"], `{"auth":{}}`, 403, `insufficient_role`},
	}
	for _, tt := range accepted {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.do(t, tt.key, tt.method, tt.path, tt.body)
			if status != tt.status || !strings.Contains(body, tt.contains) {
				t.Errorf("%s %s: %d %s\nwant %d with %s", tt.method, tt.path, status, body, tt.status, tt.contains)
			}
			if strings.Contains(body, "bob's secret") {
				t.Errorf("another user's data leaked: %s", body)
			}
		})
	}
	_, list := e.do(t, "jwt/ada", "GET", "/v1/conversations", ``)
	if strings.Contains(list, id(bobConv)) {
		t.Errorf("ada's token lists bob's conversation: %s", list)
	}
	// Only the unknown kid made the set be fetched again (once, and from
	// the configured URL: it is the only one served).
	if n := p.fetches.Load() - fetchesBefore; n != 1 {
		t.Errorf("the key set was fetched %d times for the refused tokens, want 1 (the unknown kid)", n)
	}

	// A developer role lets the token define agents; it never reaches admin.
	status, body = e.do(t, "theirs/admin", "POST", "/v1/projects/"+e.projects["theirs"],
		`{"auth":{"jwt":{"jwks_url":"`+p.url()+`","issuer":"`+p.issuer()+`","audience":"hives-app","role":"developer"}}}`)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	if status, body := e.do(t, "jwt/ada", "POST", "/v1/agents", `{"name":"ada-agent","model":"scripted/echo"}`); status != 200 {
		t.Errorf("developer token defines an agent: %d %s", status, body)
	}
	if status, _ := e.do(t, "jwt/ada", "GET", "/v1/keys", ``); status != 403 {
		t.Errorf("developer token lists keys: %d", status)
	}

	// A custom claim names the user.
	e.do(t, "theirs/admin", "POST", "/v1/projects/"+e.projects["theirs"],
		`{"auth":{"jwt":{"jwks_url":"`+p.url()+`","issuer":"`+p.issuer()+`","audience":"hives-app","user_claim":"email"}}}`)
	e.keys["jwt/email"] = p.sign(jwt.SigningMethodRS256, "rsa1", p.rsa, p.claims("ada", func(c jwt.MapClaims) { c["email"] = "ada@example.com" }))
	if status, body := e.do(t, "jwt/email", "POST", "/v1/conversations", `{}`); status != 200 || !strings.Contains(body, "ada@example.com") {
		t.Errorf("user from the email claim: %d %s", status, body)
	}
	if status, body := e.do(t, "jwt/ada", "GET", "/v1/conversations", ``); status != 401 || !strings.Contains(body, "'email' claim") {
		t.Errorf("a token without the configured claim: %d %s", status, body)
	}

	// Another project may not trust the same issuer and audience.
	status, body = e.do(t, "mine/admin", "POST", "/v1/projects/"+e.projects["mine"],
		`{"auth":{"jwt":{"jwks_url":"`+p.url()+`","issuer":"`+p.issuer()+`","audience":"hives-app"}}}`)
	if status != 409 || strings.Contains(body, e.projects["theirs"]) {
		t.Errorf("a second project trusting the same tokens: %d %s", status, body)
	}

	// Turning JWTs off applies at once.
	if status, body := e.do(t, "theirs/admin", "POST", "/v1/projects/"+e.projects["theirs"], `{"auth":{"jwt":null}}`); status != 200 || strings.Contains(body, `"jwt"`) {
		t.Fatalf("clearing JWT auth: %d %s", status, body)
	}
	if status, body := e.do(t, "jwt/email", "GET", "/v1/conversations", ``); status != 401 || !strings.Contains(body, "issuer is not trusted") {
		t.Errorf("a token after JWTs were turned off: %d %s", status, body)
	}
}

func jsonNum(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestJWTKeyRotation: a token signed by a key the provider published after
// its set was fetched is accepted once the set is fetched again.
func TestJWTKeyRotation(t *testing.T) {
	e, p := newJWTEnv(t)
	e.keys["jwt/old"] = p.sign(jwt.SigningMethodRS256, "rsa1", p.rsa, p.claims("ada", nil))
	if status, body := e.do(t, "jwt/old", "GET", "/v1/conversations", ``); status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	next, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p.publish("rsa2", &next.PublicKey)
	e.keys["jwt/new"] = p.sign(jwt.SigningMethodRS256, "rsa2", next, p.claims("ada", nil))
	if status, body := e.do(t, "jwt/new", "GET", "/v1/conversations", ``); status != 200 {
		t.Errorf("a token of the rotated-in key: %d %s", status, body)
	}
	if status, body := e.do(t, "jwt/old", "GET", "/v1/conversations", ``); status != 200 {
		t.Errorf("a token of the old key, still published: %d %s", status, body)
	}
}
