package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/engram-run/engram"
	enghttp "github.com/engram-run/engram/http"
	"github.com/engram-run/engram/http/openai"
	"github.com/engram-run/engram/memory"
	"github.com/engram-run/engram/policy"
	"github.com/engram-run/engram/provider"
	"github.com/engram-run/engram/provider/scripted"
	"github.com/engram-run/engram/runtime"
	"github.com/engram-run/engram/secrets"
	"github.com/engram-run/engram/sqlite"
	"github.com/engram-run/engram/tool"
)

var update = flag.Bool("update", false, "rewrite golden files")

// env is a server on a real store and runtime, with two projects.
type env struct {
	srv       *httptest.Server
	store     *sqlite.DB
	providers *provider.Registry
	keys      map[string]string // name -> secret
	projects  map[string]string // name -> id; "mine" is the operator project
}

func newEnv(t *testing.T) *env { return newEnvWith(t, nil) }

// newEnvWith is newEnv with an embedding model for memory search.
func newEnvWith(t *testing.T, embedder engram.Embedder) *env {
	return newEnvConfigured(t, embedder, nil)
}

// newEnvConfigured is newEnvWith with a last say on the server before it
// serves.
func newEnvConfigured(t *testing.T, embedder engram.Embedder, configure func(*enghttp.Server, *sqlite.DB)) *env {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "engram.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	mem := &memory.Service{Store: db, Embedder: embedder}
	providers := provider.NewRegistry(scripted.New())
	rt := runtime.New(db, providers, tool.WithMemory(mem, db), nil)
	rt.Memory = mem
	rt.EncodeEvent = func(ev engram.StreamEvent) []byte { return openai.EncodeEvent(int(ev.Seq), ev) }
	rt.PollInterval = 20 * time.Millisecond
	authz := policy.New(db)
	rt.Authorizer = authz
	rt.Audit = engram.StoreAuditor{Store: db}
	box, err := secrets.NewBox(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Stop)
	api := &enghttp.Server{Store: db, Responses: rt, Memory: mem, MaxBodyBytes: 64 << 10, ValidateAgent: rt.ValidateAgent, Providers: providers, BudgetsChanged: rt.BudgetsChanged,
		Ready: func(ctx context.Context) error { return db.Ping(ctx) }, Policies: authz, Secrets: box}
	e := &env{store: db, providers: providers, keys: map[string]string{},
		projects: map[string]string{"mine": engram.NewID("proj"), "theirs": engram.NewID("proj")}}
	api.Audit = engram.StoreAuditor{Store: db}
	api.OperatorProject = e.projects["mine"]
	if configure != nil {
		configure(api, db)
	}
	e.srv = httptest.NewServer(api.Handler())
	t.Cleanup(e.srv.Close)
	for _, proj := range []string{"mine", "theirs"} {
		p := &engram.Project{ID: e.projects[proj], Name: proj, CreatedAt: engram.Now()}
		if err := db.CreateProject(ctx, p); err != nil {
			t.Fatal(err)
		}
		for _, k := range []struct {
			name string
			role engram.Role
			user string
		}{{"admin", engram.RoleAdmin, ""}, {"developer", engram.RoleDeveloper, ""}, {"invoker", engram.RoleInvoker, ""}, {"ada", engram.RoleInvoker, "ada"}} {
			secret, shown := engram.NewKeySecret()
			if err := db.CreateAPIKey(ctx, &engram.APIKey{ID: engram.NewID("key"), ProjectID: p.ID, Name: k.name, Prefix: shown,
				Hash: engram.HashKey(secret), Role: k.role, User: k.user, CreatedAt: engram.Now()}); err != nil {
				t.Fatal(err)
			}
			e.keys[proj+"/"+k.name] = secret
		}
	}
	return e
}

// do makes a request with the named key ("" for none) and returns the
// status and body; every answer, error or not, must carry a request id.
func (e *env) do(t *testing.T, key, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if key != "" {
		secret := e.keys[key]
		if secret == "" {
			secret = key // a literal bad key
		}
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("X-Request-Id"), "req_") {
		t.Errorf("%s %s: no x-request-id header", method, path)
	}
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

func id(body string) string {
	m := regexp.MustCompile(`"id":"([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

func TestStatuses(t *testing.T) {
	e := newEnv(t)
	_, theirConv := e.do(t, "theirs/admin", "POST", "/v1/conversations", `{"items":[{"role":"user","content":"secret plans"}]}`)
	_, theirResp := e.do(t, "theirs/admin", "POST", "/v1/responses", `{"model":"scripted/echo","input":"their words"}`)
	_, adaConv := e.do(t, "mine/admin", "POST", "/v1/conversations", `{"user":"ada"}`)
	_, bobConv := e.do(t, "mine/admin", "POST", "/v1/conversations", `{"user":"bob"}`)
	e.do(t, "mine/admin", "POST", "/v1/agents", `{"name":"keeper","model":"scripted/echo"}`)
	twentyOne := "[" + strings.TrimSuffix(strings.Repeat(`{"role":"user","content":"x"},`, 21), ",") + "]"

	tests := []struct {
		name, key, method, path, body string
		status                        int
		contains                      string // in the body
	}{
		{"ok", "mine/invoker", "POST", "/v1/responses", `{"model":"scripted/echo","input":"hi"}`, 200, `"status":"completed"`},
		{"bad json", "mine/invoker", "POST", "/v1/responses", `{"model":`, 400, `"code":"invalid_json"`},
		{"unknown parameter", "mine/invoker", "POST", "/v1/responses", `{"model":"scripted/echo","foo":1}`, 400, `"param":"foo"`},
		{"wrong type", "mine/invoker", "POST", "/v1/responses", `{"model":"scripted/echo","temperature":"hot"}`, 400, `"code":"invalid_type"`},
		{"unknown provider", "mine/invoker", "POST", "/v1/responses", `{"model":"nowhere/x","input":"hi"}`, 400, `"param":"model"`},
		{"too many items", "mine/invoker", "POST", "/v1/conversations", `{"items":` + twentyOne + `}`, 400, `"param":"items"`},
		{"unsupported tool", "mine/invoker", "POST", "/v1/responses", `{"model":"scripted/echo","input":"x","tools":[{"type":"web_search"}]}`, 400, `"code":"unsupported_parameter"`},
		{"no key", "", "GET", "/v1/conversations", ``, 401, `"code":"missing_api_key"`},
		{"bad key", "sk-engram-nope", "GET", "/v1/conversations", ``, 401, `"code":"invalid_api_key"`},
		{"invoker makes agent", "mine/invoker", "POST", "/v1/agents", `{"name":"x","model":"scripted/echo"}`, 403, `"type":"permission_error"`},
		{"invoker lists keys", "mine/invoker", "GET", "/v1/keys", ``, 403, `insufficient_role`},
		{"bound key names another user", "mine/ada", "POST", "/v1/responses", `{"model":"scripted/echo","input":"x","user":"bob"}`, 403, `"param":"user"`},
		{"bound key reads own conversation", "mine/ada", "GET", "/v1/conversations/" + id(adaConv), ``, 200, id(adaConv)},
		{"bound key reads another user's", "mine/ada", "GET", "/v1/conversations/" + id(bobConv), ``, 404, `not found`},
		{"unknown conversation", "mine/admin", "GET", "/v1/conversations/conv_nope", ``, 404, `not found`},
		{"another project's conversation", "mine/admin", "GET", "/v1/conversations/" + id(theirConv), ``, 404, `not found`},
		{"another project's items", "mine/admin", "GET", "/v1/conversations/" + id(theirConv) + "/items", ``, 404, `not found`},
		{"another project's response", "mine/admin", "GET", "/v1/responses/" + id(theirResp), ``, 404, `not found`},
		{"continue another project's response", "mine/admin", "POST", "/v1/responses", `{"model":"scripted/recall","input":"x","previous_response_id":"` + id(theirResp) + `"}`, 404, `not found`},
		{"write into another project's conversation", "mine/admin", "POST", "/v1/responses", `{"model":"scripted/recall","input":"x","conversation":"` + id(theirConv) + `"}`, 404, `not found`},
		{"duplicate agent", "mine/admin", "POST", "/v1/agents", `{"name":"keeper","model":"scripted/echo"}`, 409, `already exists`},
		{"agent that cannot run", "mine/admin", "POST", "/v1/agents", `{"name":"ghost","model":"nowhere/x"}`, 422, `"param":"model"`},
		{"agent with unknown builtin", "mine/admin", "POST", "/v1/agents", `{"name":"ghost","model":"scripted/echo","tools":[{"type":"builtin","name":"teleport"}]}`, 422, `teleport`},
		{"oversize body", "mine/invoker", "POST", "/v1/responses", `{"model":"scripted/echo","input":"` + strings.Repeat("a", 70<<10) + `"}`, 413, `larger than`},
		{"wrong method", "mine/admin", "PUT", "/v1/conversations", ``, 405, `not allowed`},
		{"unknown route", "mine/admin", "GET", "/v1/nothing", ``, 404, `Invalid URL`},
		{"health without key", "", "GET", "/healthz", ``, 200, `ok`},
		{"ready", "", "GET", "/readyz", ``, 200, `ok`},
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
			if strings.Contains(body, "secret plans") || strings.Contains(body, "their words") {
				t.Errorf("another project's data leaked: %s", body)
			}
		})
	}
	// Nothing of theirs changed through all that.
	_, items := e.do(t, "theirs/admin", "GET", "/v1/conversations/"+id(theirConv)+"/items", ``)
	if strings.Count(items, `"type":"message"`) != 1 {
		t.Errorf("their conversation changed: %s", items)
	}
}

// TestStreamGolden fixes the exact bytes of a streamed response (ids and
// times normalised), the shape official clients parse.
func TestStreamGolden(t *testing.T) {
	e := newEnv(t)
	status, body := e.do(t, "mine/invoker", "POST", "/v1/responses", `{"model":"scripted/echo","input":"Stream please","stream":true,"metadata":{"k":"v"}}`)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	checkGolden(t, "stream_echo.golden", body)
}

// checkGolden compares a transcript, ids and times normalised, with
// testdata/name (rewritten with -update).
func checkGolden(t *testing.T, name, body string) {
	t.Helper()
	norm := regexp.MustCompile(`"(resp|msg|conv|fc|fco|cmp|rs|call)_[0-9a-z]{32}"`).ReplaceAllString(body, `"${1}_ID"`)
	norm = regexp.MustCompile(`"(created_at|completed_at)":\d+`).ReplaceAllString(norm, `"${1}":0`)
	compareGolden(t, name, norm)
}

// compareGolden compares a normalised transcript with testdata/name
// (rewritten with -update).
func compareGolden(t *testing.T, name, norm string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.WriteFile(path, []byte(norm), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if norm != string(want) {
		t.Errorf("stream differs from %s:\n%s", path, norm)
	}
}

// TestStreamRefusedBeforeStart: a request refused before the run starts is
// a plain JSON error, not a stream.
func TestStreamRefusedBeforeStart(t *testing.T) {
	e := newEnv(t)
	status, body := e.do(t, "mine/invoker", "POST", "/v1/responses", `{"model":"scripted/echo","input":"x","stream":true,"previous_response_id":"resp_nope"}`)
	if status != 404 || !strings.HasPrefix(body, `{"error":`) {
		t.Fatalf("%d %s", status, body)
	}
}

// TestOpenAPI: the document is valid JSON, lists the OpenAI endpoints and
// Engram's, and needs no key.
func TestOpenAPI(t *testing.T) {
	e := newEnv(t)
	status, body := e.do(t, "", "GET", "/openapi.json", "")
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	for path, method := range map[string]string{"/v1/responses": "post", "/v1/responses/{id}/input_items": "get",
		"/v1/conversations/{id}/items/{item}": "delete", "/v1/agents/{ref}/versions": "get", "/v1/keys": "post",
		"/v1/chat/completions": "post", "/v1/models": "get", "/v1/models/{id}": "get"} {
		if doc.Paths[path][method] == nil {
			t.Errorf("openapi.json lacks %s %s", method, path)
		}
	}
}

// TestStoreFalse: a response made with store: false answers as usual and
// leaves nothing behind; continuing a stored chain with it does not change
// the chain.
func TestStoreFalse(t *testing.T) {
	e := newEnv(t)
	status, body := e.do(t, "mine/invoker", "POST", "/v1/responses", `{"model":"scripted/recall","input":"ephemeral","store":false}`)
	if status != 200 || !strings.Contains(body, `"store":false`) || !strings.Contains(body, `"text":"ephemeral"`) {
		t.Fatalf("%d %s", status, body)
	}
	if status, _ := e.do(t, "mine/invoker", "GET", "/v1/responses/"+id(body), ""); status != 404 {
		t.Errorf("a store:false response can be read back: %d", status)
	}
	_, first := e.do(t, "mine/invoker", "POST", "/v1/responses", `{"model":"scripted/recall","input":"kept"}`)
	_, side := e.do(t, "mine/invoker", "POST", "/v1/responses", `{"model":"scripted/recall","input":"aside","store":false,"previous_response_id":"`+id(first)+`"}`)
	if !strings.Contains(side, `"text":"kept | aside"`) {
		t.Errorf("store:false continuation: %s", side)
	}
	_, next := e.do(t, "mine/invoker", "POST", "/v1/responses", `{"model":"scripted/recall","input":"again","previous_response_id":"`+id(first)+`"}`)
	if !strings.Contains(next, `"text":"kept | again"`) {
		t.Errorf("the chain changed after a store:false turn: %s", next)
	}
}
