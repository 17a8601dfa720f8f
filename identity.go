package engram

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
)

// ProjectAuth says how a project's callers may prove who they are besides
// its API keys. It is stored with the project and holds no secret: a JWT's
// issuer, audience and public keys' address are public by design.
type ProjectAuth struct {
	JWT JWTAuth `json:"jwt,omitzero"`
}

// JWTAuth lets a project's front-ends call Engram with the tokens their own
// identity provider issues, instead of an Engram key on every browser: a
// token signed by a key of JWKSURL, with this issuer and audience, acts for
// the end user its UserClaim names, with Role. The zero value is off.
type JWTAuth struct {
	JWKSURL   string `json:"jwks_url"`
	Issuer    string `json:"issuer"`
	Audience  string `json:"audience"`
	UserClaim string `json:"user_claim"`
	Role      Role   `json:"role"`
}

// Enabled reports whether the project accepts JWTs.
func (j JWTAuth) Enabled() bool { return j != JWTAuth{} }

// Default claim and role of JWTAuth.
const (
	DefaultJWTUserClaim = "sub"
	DefaultJWTRole      = RoleInvoker
)

// WithDefaults fills the claim and role left empty.
func (j JWTAuth) WithDefaults() JWTAuth {
	if !j.Enabled() {
		return j
	}
	if j.UserClaim == "" {
		j.UserClaim = DefaultJWTUserClaim
	}
	if j.Role == "" {
		j.Role = DefaultJWTRole
	}
	return j
}

// Check reports what makes j unusable; param prefixes the fields' names
// ("auth.jwt"). A JWT never grants admin: whoever controls the identity
// provider (or a leaked signing key) would otherwise manage the project's
// keys and its authentication itself, which stays with Engram keys.
func (j JWTAuth) Check(param string) error {
	name := func(f string) string { return strings.TrimPrefix(param+"."+f, ".") }
	if !j.Enabled() {
		return nil
	}
	u, err := url.Parse(j.JWKSURL)
	if j.JWKSURL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return ParamErrorf(EInvalid, name("jwks_url"), "Invalid '%s': expected the http(s) URL of the identity provider's JSON Web Key Set.", name("jwks_url"))
	}
	if strings.TrimSpace(j.Issuer) == "" {
		return ParamErrorf(EInvalid, name("issuer"), "Missing required parameter: '%s' (the exact 'iss' of the tokens).", name("issuer"))
	}
	if strings.TrimSpace(j.Audience) == "" {
		return ParamErrorf(EInvalid, name("audience"), "Missing required parameter: '%s' (an 'aud' the tokens must carry).", name("audience"))
	}
	if j.Role != RoleDeveloper && j.Role != RoleInvoker && j.Role != "" {
		return ParamErrorf(EInvalid, name("role"), "Invalid value for '%s': expected 'developer' or 'invoker' (a JWT never grants admin).", name("role"))
	}
	return nil
}

// SameTokens reports whether a token accepted by one configuration would
// also be accepted by the other: two projects must never both accept a
// token, or one project's users could land in the other.
func (j JWTAuth) SameTokens(o JWTAuth) bool {
	return j.Enabled() && o.Enabled() && j.Issuer == o.Issuer && j.Audience == o.Audience
}

// JWTKeyID is the ID of the key a request authenticated by a JWT acts
// with: there is no stored key, only the project's JWT configuration.
const JWTKeyID = "jwt"

// TokenAuthenticator verifies bearer tokens that are not Engram keys: the
// JWTs of the identity providers projects trust (ProjectAuth.JWT). A token
// it accepts acts as a key of the project that trusts it, with the
// configured role, bound to the end user the token names. An error is
// EUnauthorized with a message fit to show the caller (it never says which
// projects exist), or an internal failure.
type TokenAuthenticator interface {
	AuthenticateToken(ctx context.Context, token string) (*APIKey, error)
	// ProjectsChanged drops what was cached from projects' configurations,
	// after one was created or changed here.
	ProjectsChanged()
}

// StoredProjectAuth reads the auth a store kept; one it cannot read
// accepts no JWT (keys still work), rather than trust a misread issuer.
func StoredProjectAuth(data []byte) ProjectAuth {
	var a ProjectAuth
	if json.Unmarshal(data, &a) != nil {
		return ProjectAuth{}
	}
	return a
}
