package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/engram-run/engram/internal/pgtest"
	"github.com/engram-run/engram/secrets"
	"github.com/jackc/pgx/v5"
)

// runCLI runs an engram command in-process with vars as its environment.
func runCLI(t *testing.T, vars map[string]string, args ...string) (string, error) {
	t.Helper()
	var out strings.Builder
	err := run(context.Background(), args, func(k string) string { return vars[k] }, strings.NewReader(""), &out, &out)
	return out.String(), err
}

// TestConnectorOnBehalfOf: an agent's http_request goes through a
// per-user connector with the credential of the user the run acts for; a
// user without one is refused and the run goes on; after a master-key
// rotation the credential still works under the new key alone; neither
// the data directory nor a PostgreSQL copy holds the credential in clear.
func TestConnectorOnBehalfOf(t *testing.T) {
	const adaKey = "ada-PLANTED-key-7777"
	var mu sync.Mutex
	var seen []string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("X-Api-Key"))
		mu.Unlock()
		fmt.Fprintf(w, "hives at %s", r.URL.Path)
	}))
	defer upstream.Close()

	srv := startEngram(t, nil)
	for _, step := range []struct{ path, body string }{
		{"/v1/connectors", `{"name":"hivesapi","kind":"http","per_user":true,"config":{"base_url":"` + upstream.URL + `/api/","allow_private":true}}`},
		{"/v1/connectors/hivesapi/credentials", `{"user":"ada","secret":{"headers":{"X-Api-Key":"` + adaKey + `"}}}`},
		{"/v1/agents", `{"name":"keeper","model":"scripted/echo","memory":{"recall":"off"},"tools":[{"type":"builtin","name":"http_request","connector":"hivesapi"}]}`},
	} {
		if st := srv.call(t, "POST", step.path, step.body, nil); st != http.StatusOK {
			t.Fatalf("POST %s: %d", step.path, st)
		}
	}
	ask := func(s *testServer, user string) respBody {
		t.Helper()
		var r respBody
		st := s.call(t, "POST", "/v1/responses", `{"model":"agent/keeper","user":"`+user+`","input":"call http_request {\"url\":\"hives/2\"}"}`, &r)
		if st != http.StatusOK || r.Status != "completed" || len(r.Output) != 3 {
			t.Fatalf("response for %s: %d %+v", user, st, r)
		}
		return r
	}
	r := ask(srv, "ada")
	if !strings.Contains(r.Output[1].Output, `"body":"hives at /api/hives/2"`) || strings.Contains(r.Output[1].Output, adaKey) {
		t.Errorf("ada's call gave the model %q", r.Output[1].Output)
	}
	r = ask(srv, "bob")
	if want := "error: http_request: connector hivesapi needs a credential for user bob"; r.Output[1].Output != want {
		t.Errorf("bob's call gave the model %q, want %q", r.Output[1].Output, want)
	}
	mu.Lock()
	if len(seen) != 1 || seen[0] != adaKey {
		t.Errorf("the upstream saw keys %q, want ada's once", seen)
	}
	seen = nil
	mu.Unlock()
	srv.Stop()

	// Rotate to a new master key; the server then needs the new key only.
	oldKey, err := os.ReadFile(filepath.Join(srv.DataDir, secrets.KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	newKey, err := runCLI(t, nil, "secrets", "keygen")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"ENGRAM_DATA": srv.DataDir, "ENGRAM_MASTER_KEY": strings.TrimSpace(newKey), "ENGRAM_MASTER_KEY_PREVIOUS": strings.TrimSpace(string(oldKey))}
	if out, err := runCLI(t, vars, "secrets", "rotate"); err != nil || !strings.Contains(out, "re-sealed 1 credentials") {
		t.Fatalf("rotate: %v %s", err, out)
	}
	if out, err := runCLI(t, vars, "secrets", "rotate"); err != nil || !strings.Contains(out, "re-sealed 0 credentials") {
		t.Fatalf("rotate again: %v %s", err, out)
	}
	// Without the old key, a rotation that still needed it would say so;
	// this one has nothing left to do.
	delete(vars, "ENGRAM_MASTER_KEY_PREVIOUS")
	if out, err := runCLI(t, vars, "secrets", "rotate"); err != nil || !strings.Contains(out, "re-sealed 0 credentials") {
		t.Fatalf("rotate with the new key only: %v %s", err, out)
	}
	again := startEngram(t, map[string]string{"ENGRAM_DATA": srv.DataDir, "ENGRAM_MASTER_KEY": vars["ENGRAM_MASTER_KEY"]})
	ask(again, "ada")
	mu.Lock()
	if len(seen) != 1 || seen[0] != adaKey {
		t.Errorf("after rotation the upstream saw keys %q", seen)
	}
	mu.Unlock()
	again.Stop()

	// Nothing in the data directory holds the credential in clear.
	entries, _ := os.ReadDir(srv.DataDir)
	for _, f := range entries {
		b, err := os.ReadFile(filepath.Join(srv.DataDir, f.Name()))
		if err == nil && strings.Contains(string(b), adaKey) {
			t.Errorf("%s holds the credential in clear", f.Name())
		}
	}
	// Nor does a PostgreSQL copy (engram migrate), in text or in hex.
	url := pgtest.Database(t)
	if out, err := runCLI(t, nil, "migrate", "--quiet", "--from", "sqlite:"+srv.DataDir, "--to", url); err != nil {
		t.Fatalf("migrate: %v %s", err, out)
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var dump string
	if err := conn.QueryRow(context.Background(), `SELECT (SELECT string_agg(c::text, ' ') FROM connectors c) || (SELECT string_agg(k::text, ' ') FROM connector_credentials k)`).Scan(&dump); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dump, "hivesapi") {
		t.Fatalf("the copy has no connector: %s", dump)
	}
	if strings.Contains(dump, adaKey) || strings.Contains(dump, hex.EncodeToString([]byte(adaKey))) {
		t.Error("the PostgreSQL copy holds the credential in clear")
	}
}
