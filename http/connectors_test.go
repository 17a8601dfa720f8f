package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/engram-run/engram"
	enghttp "github.com/engram-run/engram/http"
	"github.com/engram-run/engram/secrets"
	"github.com/engram-run/engram/sqlite"
)

// lockedBuffer is a log sink the server's goroutines may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// connectorEnv is a server with a master key, logging at debug level.
type connectorEnv struct {
	*env
	dir string
	log *lockedBuffer
	box *secrets.Box
	// closeStore closes the store (once), folding its WAL into its file.
	closeStore func()
}

func newConnectorEnv(t *testing.T) *connectorEnv {
	e := newEnv(t) // for its keys: the projects live in its store
	dir := t.TempDir()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "engram.db"))
	if err != nil {
		t.Fatal(err)
	}
	var closeOnce sync.Once
	closeStore := func() { closeOnce.Do(func() { db.Close() }) }
	t.Cleanup(closeStore)
	// The same projects and keys, in a store of its own whose files the
	// test reads.
	for _, p := range must2(e.store.ListProjects(context.Background())) {
		if err := db.CreateProject(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		for _, k := range must2(e.store.ListAPIKeys(context.Background(), p.ID)) {
			if err := db.CreateAPIKey(context.Background(), k); err != nil {
				t.Fatal(err)
			}
		}
	}
	box, _, err := secrets.LoadBox(func(string) string { return "" }, dir)
	if err != nil {
		t.Fatal(err)
	}
	log := &lockedBuffer{}
	api := &enghttp.Server{Store: db, Secrets: box, Audit: engram.StoreAuditor{Store: db},
		Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	ce := &connectorEnv{env: &env{srv: srv, store: db, keys: e.keys}, dir: dir, log: log, box: box, closeStore: closeStore}
	return ce
}

func must2[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// The distinctive secrets the test looks for everywhere.
var planted = []string{"Bearer sk-live-PLANTED-1111", "PLANTED-s3-secret-2222", "PLANTED-pg-pass-3333", "Bearer PLANTED-ada-4444", "Bearer PLANTED-rotated-5555"}

// TestConnectorSecretsNeverShown: connectors made with distinctive
// secrets; no API answer, no log line (debug level) and no byte of the
// database files holds any of them in clear.
func TestConnectorSecretsNeverShown(t *testing.T) {
	e := newConnectorEnv(t)
	var answers strings.Builder
	call := func(key, method, path, body string, want int) string {
		t.Helper()
		status, out := e.do(t, key, method, path, body)
		answers.WriteString(out)
		if status != want {
			t.Fatalf("%s %s: %d %s", method, path, status, out)
		}
		return out
	}
	adm := "mine/admin"
	out := call(adm, "POST", "/v1/connectors", `{"name":"weather","kind":"http","config":{"base_url":"https://api.weather.example/v1/"},
		"secret":{"headers":{"Authorization":"`+planted[0]+`"}},"metadata":{"team":"bees"}}`, 200)
	var c struct {
		ID        string            `json:"id"`
		Object    string            `json:"object"`
		Name      string            `json:"name"`
		HasSecret bool              `json:"has_secret"`
		Users     []string          `json:"users"`
		PerUser   bool              `json:"per_user"`
		Config    json.RawMessage   `json:"config"`
		Metadata  map[string]string `json:"metadata"`
	}
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatal(err)
	}
	if c.Object != "connector" || !c.HasSecret || c.Name != "weather" || string(c.Config) != `{"base_url":"https://api.weather.example/v1/"}` || c.Metadata["team"] != "bees" {
		t.Errorf("created %s", out)
	}
	call(adm, "POST", "/v1/connectors", `{"name":"bucket","kind":"s3","config":{"region":"eu-west-1","bucket":"hives"},
		"secret":{"fields":{"access_key_id":"AKIAPLANTED","secret_access_key":"`+planted[1]+`"}}}`, 200)
	call(adm, "POST", "/v1/connectors", `{"name":"ledger","kind":"postgres","config":{"url":"postgres://reader@db.example:5432/ledger","max_rows":100},
		"per_user":true,"secret":{"fields":{"password":"`+planted[2]+`"}}}`, 200)
	out = call(adm, "POST", "/v1/connectors/ledger/credentials", `{"user":"ada","secret":{"fields":{"password":"`+planted[3]+`"}}}`, 200)
	if !strings.Contains(out, `"users":["ada"]`) {
		t.Errorf("after ada's credential: %s", out)
	}
	out = call(adm, "POST", "/v1/connectors/weather", `{"secret":{"headers":{"Authorization":"`+planted[4]+`"}},"per_user":true}`, 200)
	if !strings.Contains(out, `"has_secret":true`) || !strings.Contains(out, `"per_user":true`) {
		t.Errorf("after update: %s", out)
	}
	// Every read, by every role that may read.
	for _, key := range []string{adm, "mine/developer"} {
		call(key, "GET", "/v1/connectors", "", 200)
		call(key, "GET", "/v1/connectors/weather", "", 200)
		call(key, "GET", "/v1/connectors/"+c.ID, "", 200)
		call(key, "GET", "/v1/connectors/ledger", "", 200)
	}
	// Refusals, whose messages must not quote what was sent either.
	call(adm, "POST", "/v1/connectors/ledger/credentials", `{"user":"bob","secret":{"fields":{"passwd":"`+planted[3]+`"}}}`, 400)
	call(adm, "POST", "/v1/connectors/ledger/credentials", `{"user":"bob","secret":{"fields":{"password":["`+planted[3]+`"]}}}`, 400)
	call(adm, "POST", "/v1/connectors", `{"name":"bad","kind":"http","config":{"base_url":"https://x.example"},"secret":{"headers":{"A":"`+planted[0]+"\\n"+`"}}}`, 400)
	call(adm, "POST", "/v1/connectors", `{"name":"bad","kind":"http","config":{"base_url":"https://x.example"},"secret":{"headers":{"A":1},"x":"`+planted[0]+`"}}`, 400)
	call(adm, "POST", "/v1/connectors", `{"name":"bad","kind":"http","config":{"base_url":"https://x.example"},"secret":"`+planted[0]+`"}`, 400)

	// The secrets are stored, sealed: they open to what was sent.
	ctx := context.Background()
	conns := &secrets.Connectors{Store: e.store, Box: e.box}
	projectID := must2(e.store.ListProjects(ctx))[0].ID
	rc, err := conns.Resolve(ctx, projectID, "ledger", "ada")
	if err != nil || rc.Secret.Fields["password"] != planted[3] {
		t.Fatalf("ada's ledger credential: %v %v", rc, err)
	}
	rc, err = conns.Resolve(ctx, projectID, "bucket", "")
	if err != nil || rc.Secret.Fields["secret_access_key"] != planted[1] {
		t.Fatalf("bucket credential: %v", err)
	}

	// The audit log recorded each of those writes, and holds none of the
	// secrets either.
	if audit := call(adm, "GET", "/v1/audit?limit=1000", "", 200); strings.Count(audit, `"action":"POST /v1/connectors`) < 5 {
		t.Errorf("the audit log lacks the connector writes: %.500s", audit)
	}

	logs := e.log.String()
	if !strings.Contains(logs, "/v1/connectors") {
		t.Fatalf("the server logged no request at debug level:\n%s", logs)
	}
	// Close the store so the WAL is folded into the file, then read every
	// file of the data directory (the database, its WAL, the key file
	// aside).
	e.closeStore()
	files := map[string]string{"the API's answers": answers.String(), "the server's log": logs}
	entries, _ := os.ReadDir(e.dir)
	for _, f := range entries {
		if f.Name() == secrets.KeyFileName {
			continue
		}
		b, err := os.ReadFile(filepath.Join(e.dir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name()] = string(b)
	}
	if _, ok := files["engram.db"]; !ok {
		t.Fatalf("no database file in %v", entries)
	}
	for where, text := range files {
		for _, s := range planted {
			for _, needle := range []string{s, strings.TrimPrefix(s, "Bearer ")} {
				if strings.Contains(text, needle) {
					t.Errorf("%s holds the secret %q in clear", where, needle)
				}
			}
		}
	}
	// The test can see a secret where it is: the metadata was stored in clear.
	if !strings.Contains(files["engram.db"], "api.weather.example") {
		t.Error("the database file does not hold the connector's config: is the test reading the right file?")
	}
}

func TestConnectorAPI(t *testing.T) {
	e := newConnectorEnv(t)
	adm, dev := "mine/admin", "mine/developer"
	for _, tc := range []struct {
		key, method, path, body string
		status                  int
		contains                string
	}{
		{adm, "POST", "/v1/connectors", `{"name":"api","kind":"http","config":{"base_url":"https://api.example.com"}}`, 200, `"has_secret":false`},
		{adm, "POST", "/v1/connectors", `{"name":"api","kind":"http","config":{"base_url":"https://api.example.com"}}`, 409, "already exists"},
		{"theirs/admin", "POST", "/v1/connectors", `{"name":"api","kind":"http","config":{"base_url":"https://api.example.com"}}`, 200, `"name":"api"`},
		{dev, "POST", "/v1/connectors", `{"name":"x","kind":"http","config":{"base_url":"https://a.example"}}`, 403, "needs the admin role"},
		{"mine/invoker", "GET", "/v1/connectors", ``, 403, "needs the developer role"},
		{dev, "GET", "/v1/connectors/api", ``, 200, `"base_url":"https://api.example.com"`},
		{"theirs/developer", "GET", "/v1/connectors/nope", ``, 404, "not found"},
		// Config per kind: unknown settings refused, required ones present.
		{adm, "POST", "/v1/connectors", `{"name":"x","kind":"http","config":{"base_url":"https://a.example","baseurl":"x"}}`, 400, "config.baseurl"},
		{adm, "POST", "/v1/connectors", `{"name":"x","kind":"http","config":{}}`, 400, "config.base_url"},
		{adm, "POST", "/v1/connectors", `{"name":"x","kind":"http","config":{"base_url":"ftp://a.example"}}`, 400, "absolute http or https URL"},
		{adm, "POST", "/v1/connectors", `{"name":"x","kind":"http"}`, 400, "Missing required parameter: 'config'"},
		{adm, "POST", "/v1/connectors", `{"name":"x","kind":"ftp","config":{}}`, 400, "Invalid 'kind'"},
		{adm, "POST", "/v1/connectors", `{"kind":"http","config":{}}`, 400, "'name'"},
		{adm, "POST", "/v1/connectors", `{"name":"a b","kind":"http","config":{"base_url":"https://a.example"}}`, 400, "Invalid 'name'"},
		{adm, "POST", "/v1/connectors", `{"name":"x","kind":"http","config":{"base_url":"https://a.example"},"extra":1}`, 400, "Unknown parameter: 'extra'"},
		{adm, "POST", "/v1/connectors", `{"name":"x","kind":"s3","config":{"bucket":"b"}}`, 400, "config.region"},
		{adm, "POST", "/v1/connectors", `{"name":"x","kind":"postgres","config":{"url":"postgres://u:pw@h/db"}}`, 400, "secret.fields.password"},
		{adm, "POST", "/v1/connectors", `{"name":"x","kind":"sqlite","config":{"path":"/data/x.db","max_rows":-1}}`, 400, "config.max_rows"},
		{adm, "POST", "/v1/connectors", `{"name":"x","kind":"sqlite","config":{"path":"/data/x.db"},"metadata":{"a":1}}`, 400, "metadata"},
		{adm, "POST", "/v1/connectors", `{"name":"x","kind":"mcp","config":{"transport":"ws"}}`, 400, "config.transport"},
		{adm, "POST", "/v1/connectors", `{"name":"x","kind":"mcp","config":{"transport":"stdio"}}`, 400, "config.command"},
		{adm, "POST", "/v1/connectors", `{"name":"x","kind":"http","config":{"base_url":"https://a.example"},"secret":{"fields":{"password":"p"}}}`, 400, "takes no fields"},
		{adm, "POST", "/v1/connectors", `{"name":"files","kind":"sqlite","config":{"path":"/data/x.db","max_rows":50}}`, 200, `"kind":"sqlite"`},
		{adm, "POST", "/v1/connectors", `{"name":"tools","kind":"mcp","config":{"transport":"http","url":"https://mcp.example/mcp"}}`, 200, `"transport":"http"`},
		// Updates: kind fixed, config checked against it.
		{adm, "POST", "/v1/connectors/api", `{"kind":"s3"}`, 400, "cannot change"},
		{adm, "POST", "/v1/connectors/api", `{"config":{"bucket":"b"}}`, 400, "config.bucket"},
		{adm, "POST", "/v1/connectors/api", `{"name":"files"}`, 409, "already exists"},
		{adm, "POST", "/v1/connectors/api", `{"name":"files","secret":{"headers":{"X-Key":"k"}}}`, 409, "already exists"},
		{dev, "GET", "/v1/connectors/api", ``, 200, `"has_secret":false`}, // the refused update stored nothing
		{adm, "POST", "/v1/connectors/api", `{"secret":{"headers":{"X-Key":"k"}},"metadata":{"a":"b"}}`, 200, `"has_secret":true`},
		{adm, "POST", "/v1/connectors/api", `{"secret":null}`, 200, `"has_secret":false`},
		// Per-user credentials.
		{adm, "POST", "/v1/connectors/api/credentials", `{"user":"ada","secret":{"headers":{"X-Key":"a"}}}`, 200, `"users":["ada"]`},
		{adm, "POST", "/v1/connectors/api/credentials", `{"user":"bob","secret":{"headers":{"X-Key":"b"}}}`, 200, `"users":["ada","bob"]`},
		{adm, "POST", "/v1/connectors/api/credentials", `{"secret":{"headers":{"X-Key":"b"}}}`, 400, "'user'"},
		{adm, "POST", "/v1/connectors/api/credentials", `{"user":"carol"}`, 400, "'secret'"},
		{adm, "POST", "/v1/connectors/nope/credentials", `{"user":"carol","secret":{}}`, 404, "not found"},
		{"theirs/admin", "POST", "/v1/connectors/files/credentials", `{"user":"carol","secret":{}}`, 404, "not found"},
		{dev, "POST", "/v1/connectors/api/credentials", `{"user":"carol","secret":{}}`, 403, "admin"},
		{adm, "DELETE", "/v1/connectors/api/credentials/bob", ``, 200, `"users":["ada"]`},
		{adm, "DELETE", "/v1/connectors/api/credentials/bob", ``, 404, "no credential for user bob"},
		{dev, "GET", "/v1/connectors?limit=2", ``, 200, `"has_more":true`},
		{adm, "DELETE", "/v1/connectors/api", ``, 200, `"connector.deleted"`},
		{adm, "GET", "/v1/connectors/api", ``, 404, "not found"},
		{"theirs/developer", "GET", "/v1/connectors/api", ``, 200, `"name":"api"`},
	} {
		status, out := e.do(t, tc.key, tc.method, tc.path, tc.body)
		if status != tc.status || !strings.Contains(out, tc.contains) {
			t.Errorf("%s %s %s %s: %d %s, want %d with %q", tc.key, tc.method, tc.path, tc.body, status, out, tc.status, tc.contains)
		}
	}
	// The other project's credentials were never touched by this one's.
	_, err := e.store.GetCredential(context.Background(), must2(e.store.ListProjects(context.Background()))[0].ID, "x", "ada")
	if engram.ErrorCode(err) != engram.ENotFound {
		t.Errorf("credential: %v", err)
	}
}

// TestConnectorWithoutMasterKey: a server with no box stores connectors
// but refuses their secrets.
func TestConnectorWithoutMasterKey(t *testing.T) {
	e := newEnvConfigured(t, nil, func(api *enghttp.Server, _ *sqlite.DB) { api.Secrets = nil })
	status, out := e.do(t, "mine/admin", "POST", "/v1/connectors", `{"name":"x","kind":"http","config":{"base_url":"https://a.example"},"secret":{"headers":{"A":"b"}}}`)
	if status != http.StatusServiceUnavailable || !strings.Contains(out, "master key") {
		t.Errorf("%d %s", status, out)
	}
	status, out = e.do(t, "mine/admin", "GET", "/v1/connectors/x", "")
	if status != 404 {
		t.Errorf("a refused create left the connector: %d %s", status, out)
	}
}

// TestAgentHTTPRequestDeclaration: an agent's http_request keeps its
// connector and allowed hosts; an entry that could never match is 422.
func TestAgentHTTPRequestDeclaration(t *testing.T) {
	e := newEnv(t)
	status, out := e.do(t, "mine/developer", "POST", "/v1/agents", `{"name":"fetcher","model":"scripted/echo","tools":[{"type":"builtin","name":"http_request","allowed_hosts":["https://api.example.com/v1"]}]}`)
	if status != 422 || !strings.Contains(out, "is not a host") {
		t.Errorf("a URL as an allowed host: %d %s", status, out)
	}
	status, out = e.do(t, "mine/developer", "POST", "/v1/agents", `{"name":"fetcher","model":"scripted/echo","tools":[{"type":"builtin","name":"http_request","allowed_hosts":["api.example.com","*.example.org"],"connector":"weather"}]}`)
	if status != 200 || !strings.Contains(out, `"allowed_hosts":["api.example.com","*.example.org"]`) || !strings.Contains(out, `"connector":"weather"`) {
		t.Errorf("create: %d %s", status, out)
	}
}
