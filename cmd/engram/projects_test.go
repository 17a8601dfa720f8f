package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/sqlite"
	"github.com/golang-jwt/jwt/v5"
)

// TestOperatorProject: the operator project is the default one even when
// another project sorts before it (made in the same second, a smaller id);
// a store without it (imported) has its oldest project as the operator's.
func TestOperatorProject(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "engram.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out bytes.Buffer
	inv := &invocation{getenv: func(string) string { return "" }, stdin: strings.NewReader(""), stdout: &out, stderr: &out}
	for _, p := range []*engram.Project{{ID: "proj_0000", Name: "imported", CreatedAt: 100}, {ID: "proj_0001", Name: "later", CreatedAt: 200}} {
		if err := db.CreateProject(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	operator, err := bootstrap(ctx, db, inv)
	if err != nil || operator != "proj_0000" {
		t.Fatalf("without the default project the operator is %q (%v), want the oldest", operator, err)
	}
	if !strings.Contains(out.String(), "sk-engram-") {
		t.Errorf("no first admin key printed: %q", out.String())
	}
	if err := db.CreateProject(ctx, &engram.Project{ID: defaultProjectID, Name: "default", CreatedAt: 100}); err != nil {
		t.Fatal(err)
	}
	if operator, err := bootstrap(ctx, db, inv); err != nil || operator != defaultProjectID {
		t.Errorf("the operator is %q (%v), want %s", operator, err, defaultProjectID)
	}
}

// TestProjectsCommand: the operator's admin creates a project and gets its
// admin key; that admin lets its front-end's JWTs in (set-jwt), which the
// server then accepts as the user they name, until clear-jwt.
func TestProjectsCommand(t *testing.T) {
	srv := startEngram(t, nil)
	admin := srv.AdminKey
	out, _, err := cli(t, srv, admin, "", "projects", "create", "--name", "orchard")
	if err != nil {
		t.Fatal(err)
	}
	var secret, projectID string
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "sk-engram-") {
			secret = f
		}
		if strings.HasPrefix(f, "(proj_") {
			projectID = strings.Trim(f, "(),")
		}
	}
	if secret == "" || projectID == "" || !strings.Contains(out, "orchard") {
		t.Fatalf("projects create printed no key or id: %q", out)
	}

	out, _, err = cli(t, srv, admin, "", "projects", "list")
	if err != nil || !strings.Contains(out, "orchard") || !strings.Contains(out, "proj_default") || !strings.Contains(out, "yes") {
		t.Errorf("the operator's list: %q %v", out, err)
	}
	out, _, err = cli(t, srv, secret, "", "projects", "list")
	if err != nil || !strings.Contains(out, "orchard") || strings.Contains(out, "proj_default") {
		t.Errorf("the new admin's list: %q %v", out, err)
	}
	if _, _, err := cli(t, srv, secret, "", "projects", "create", "--name", "x"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("a non-operator admin creates a project: %v", err)
	}
	if _, _, err := cli(t, srv, secret, "", "projects", "show", "proj_default"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("a non-operator admin reads the operator project: %v", err)
	}
	if out, _, err := cli(t, srv, secret, "", "projects", "rename", projectID, "--name", "orchard 2"); err != nil || !strings.Contains(out, "orchard 2") {
		t.Errorf("rename: %q %v", out, err)
	}

	// An identity provider on loopback.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{"kty": "RSA", "kid": "k1", "alg": "RS256",
			"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes())}}})
	}))
	defer idp.Close()
	out, _, err = cli(t, srv, secret, "", "projects", "set-jwt", projectID, "--jwks-url", idp.URL+"/jwks", "--issuer", "https://login.example/", "--audience", "orchard-app", "--user-claim", "email")
	if err != nil || !strings.Contains(out, "issuer https://login.example/, audience orchard-app, user claim email, role invoker") {
		t.Fatalf("set-jwt: %q %v", out, err)
	}
	if _, _, err := cli(t, srv, secret, "", "projects", "set-jwt", projectID, "--jwks-url", idp.URL, "--issuer", "i", "--audience", "a", "--role", "admin"); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("set-jwt --role admin: %v", err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": "https://login.example/", "aud": "orchard-app",
		"email": "ada@example.com", "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = "k1"
	token, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err = cli(t, srv, token, "", "chat", "--model", "scripted/echo", "hello")
	if err != nil || !strings.Contains(out, "hello") {
		t.Fatalf("chat with a JWT: %q %v", out, err)
	}
	out, _, err = cli(t, srv, secret, "", "conversations", "list", "--user", "ada@example.com")
	if err != nil || strings.Count(strings.TrimSpace(out), "\n") != 1 {
		t.Errorf("the JWT's conversation, in the project that trusts it, as its user: %q %v", out, err)
	}
	if out, _, err := cli(t, srv, admin, "", "conversations", "list"); err != nil || strings.Contains(out, "ada@example.com") {
		t.Errorf("the JWT's conversation leaked into the operator project: %q %v", out, err)
	}

	if out, _, err := cli(t, srv, secret, "", "projects", "clear-jwt", projectID); err != nil || !strings.Contains(out, "JWT: off") {
		t.Errorf("clear-jwt: %q %v", out, err)
	}
	if _, _, err := cli(t, srv, token, "", "conversations", "list"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("a JWT after clear-jwt: %v", err)
	}
}
