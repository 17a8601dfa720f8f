package http_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
)

// party is one side's data, planted through the API, and the strings that
// must never reach anybody else.
type party struct {
	tag  string
	user string
	ids  map[string]string // kind of resource -> id
	// userMarkers are in data owned by the end user (conversations,
	// responses, records); projectMarkers in data every key of the project
	// may read (agents, blocks, schedules, keys).
	userMarkers, projectMarkers []string
}

// plant creates one of every kind of resource with the admin key, each
// carrying a marker string.
func plant(t *testing.T, e *env, admin, user, tag string) *party {
	t.Helper()
	p := &party{tag: tag, user: user, ids: map[string]string{}}
	mark := func(what string, owned bool) string {
		m := "MARK-" + tag + "-" + what
		if owned {
			p.userMarkers = append(p.userMarkers, m)
		} else {
			p.projectMarkers = append(p.projectMarkers, m)
		}
		return m
	}
	create := func(kind, path, body string) string {
		status, answer := e.do(t, admin, "POST", path, body)
		if status != 200 {
			t.Fatalf("planting %s: %d %s", kind, status, answer)
		}
		p.ids[kind] = id(answer)
		return answer
	}
	create("agent", "/v1/agents", fmt.Sprintf(`{"name":"agent-%s","model":"scripted/echo","instructions":%q}`, tag, mark("instructions", false)))
	create("block", "/v1/memory/blocks", fmt.Sprintf(`{"label":"blk_%s","value":%q}`, strings.ToLower(tag), mark("block", false)))
	create("conversation", "/v1/conversations", fmt.Sprintf(`{"user":%q,"metadata":{"note":%q},"items":[{"role":"user","content":%q}]}`,
		user, mark("meta", true), mark("item", true)))
	_, items := e.do(t, admin, "GET", "/v1/conversations/"+p.ids["conversation"]+"/items", "")
	p.ids["item"] = id(items)
	create("response", "/v1/responses", fmt.Sprintf(`{"model":"scripted/echo","conversation":%q,"input":%q}`, p.ids["conversation"], mark("response", true)))
	create("record", "/v1/memory/records", fmt.Sprintf(`{"text":%q,"user":%q,"agent":%q}`, mark("record", true), user, p.ids["agent"]))
	create("schedule", "/v1/schedules", fmt.Sprintf(`{"agent":%q,"cron":"0 0 1 1 *","input":%q,"paused":true}`, p.ids["agent"], mark("schedule", false)))
	create("key", "/v1/keys", fmt.Sprintf(`{"name":%q,"role":"invoker"}`, mark("key", false)))
	create("connector", "/v1/connectors", fmt.Sprintf(`{"name":"conn-%s","kind":"http","config":{"base_url":"https://example.com"},"secret":{"headers":{"Authorization":%q}}}`,
		strings.ToLower(tag), mark("shared-secret", false)))
	if status, answer := e.do(t, admin, "POST", "/v1/connectors/"+p.ids["connector"]+"/credentials",
		fmt.Sprintf(`{"user":%q,"secret":{"headers":{"Authorization":%q}}}`, user, mark("user-secret", true))); status != 200 {
		t.Fatalf("planting a credential: %d %s", status, answer)
	}
	p.ids["user"] = user
	create("policy", "/v1/policies", fmt.Sprintf(`{"name":"pol-%s","policy":%q}`, strings.ToLower(tag),
		`permit (principal, action, resource) when { context.declared && context.user != "`+mark("policy", false)+`" };`))
	create("budget", "/v1/budgets", fmt.Sprintf(`{"scope":"user","subject":%q,"period":"month","max_tokens":1000000,"metadata":{"note":%q}}`, user, mark("budget", false)))
	p.ids["model"] = "agent/agent-" + tag
	p.ids["project"] = e.projects[strings.Split(admin, "/")[0]]
	return p
}

// secretShown fails when an answer holds a connector's secret: not even
// the owner's admin reads one back.
func secretShown(t *testing.T, body string) {
	t.Helper()
	for _, m := range []string{"MARK-BOB-shared-secret", "MARK-BOB-user-secret"} {
		if strings.Contains(body, m) {
			t.Errorf("a secret in an answer: %.400s", body)
		}
	}
}

// kindOfParam names the kind of resource a path parameter stands for, by
// the collection it follows.
var kindOfParam = map[string]string{
	"agents": "agent", "conversations": "conversation", "items": "item", "responses": "response",
	"blocks": "block", "records": "record", "schedules": "schedule", "keys": "key", "models": "model",
	"projects": "project", "connectors": "connector", "credentials": "user", "policies": "policy", "budgets": "budget",
}

// userOwned are the kinds of resource that belong to an end user.
var userOwned = map[string]bool{"conversation": true, "item": true, "response": true, "record": true}

// operation is one endpoint of the API as /openapi.json lists it.
type operation struct {
	method, path string
	role         string // "" for none
}

func operations(t *testing.T, e *env) []operation {
	t.Helper()
	_, body := e.do(t, "", "GET", "/openapi.json", "")
	var doc struct {
		Paths map[string]map[string]struct {
			Role string `json:"x-engram-role"`
		}
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	var ops []operation
	for path, methods := range doc.Paths {
		for method, op := range methods {
			ops = append(ops, operation{strings.ToUpper(method), path, op.Role})
		}
	}
	sort.Slice(ops, func(i, j int) bool {
		// Deletions last, so that a broken check cannot remove what later
		// checks look for.
		di, dj := ops[i].method == "DELETE", ops[j].method == "DELETE"
		if di != dj {
			return dj
		}
		return ops[i].path+ops[i].method < ops[j].path+ops[j].method
	})
	return ops
}

// request fills an operation's path parameters with the target's ids and
// gives it a body and query naming the target's resources, so that every
// endpoint is asked for the target's data in the way it can be.
func request(t *testing.T, op operation, target *party) (path, query, body string, kinds []string) {
	t.Helper()
	segs := strings.Split(op.path, "/")
	for i, s := range segs {
		if !strings.HasPrefix(s, "{") {
			continue
		}
		kind := kindOfParam[segs[i-1]]
		if kind == "" || target.ids[kind] == "" {
			t.Fatalf("%s %s: the isolation matrix has no resource for parameter %s: plant one and map it in kindOfParam", op.method, op.path, s)
		}
		segs[i] = target.ids[kind]
		kinds = append(kinds, kind)
	}
	path = strings.Join(segs, "/")
	ids := target.ids
	q := url.Values{}
	switch op.method + " " + op.path {
	case "GET /v1/conversations":
		q.Set("agent", ids["agent"])
		q.Set("user", target.user)
	case "GET /v1/memory/records":
		q.Set("agent", ids["agent"])
		q.Set("user", target.user)
	case "GET /v1/usage":
		q.Set("agent", ids["agent"])
		q.Set("group_by", "conversation")
	case "GET /v1/responses/{id}":
		q.Set("stream", "true")
	}
	bodies := map[string]string{
		"POST /v1/responses":                    `{"model":"scripted/echo","input":"x","conversation":$CONV}`,
		"POST /v1/responses/compact":            `{"model":"scripted/echo","conversation":$CONV}`,
		"POST /v1/responses/input_tokens":       `{"model":"scripted/echo","conversation":$CONV,"input":"x"}`,
		"POST /v1/responses/{id}/approvals":     `{"approval_request_id":"mcpr_none","approve":true}`,
		"POST /v1/chat/completions":             `{"model":$MODEL,"messages":[{"role":"user","content":"x"}]}`,
		"POST /v1/messages":                     `{"model":"scripted/echo","max_tokens":16,"messages":[{"role":"user","content":"x"}]}`,
		"POST /v1/messages/count_tokens":        `{"model":"scripted/echo","messages":[{"role":"user","content":"x"}]}`,
		"POST /v1/conversations":                `{"agent":$AGENT}`,
		"POST /v1/conversations/{id}":           `{"metadata":{"note":"intruder"}}`,
		"POST /v1/conversations/{id}/items":     `{"items":[{"role":"user","content":"intruder"}]}`,
		"POST /v1/agents":                       `{"name":"intruder","model":"scripted/echo","memory":{"blocks":[{"id":$BLOCK}]}}`,
		"POST /v1/agents/{ref}":                 `{"instructions":"intruder"}`,
		"POST /v1/memory/blocks/{id}":           `{"value":"intruder"}`,
		"POST /v1/memory/records":               `{"text":"intruder","agent":$AGENT,"user":$USER,"supersedes":$RECORD}`,
		"POST /v1/memory/records/search":        `{"agent":$AGENT,"user":$USER,"query":"MARK"}`,
		"POST /v1/schedules":                    `{"agent":$AGENT,"cron":"0 0 1 1 *","input":"x","conversation":$CONV}`,
		"POST /v1/schedules/{id}":               `{"input":"intruder"}`,
		"POST /v1/keys":                         `{"name":"intruder","role":"invoker"}`,
		"POST /v1/memory/blocks":                `{"label":"intruder","value":"x"}`,
		"POST /v1/retention":                    `{"events_days":1}`,
		"POST /v1/projects":                     `{"name":"intruder"}`,
		"POST /v1/projects/{id}":                `{"name":"intruder"}`,
		"POST /v1/connectors":                   `{"name":"intruder","kind":"http","config":{"base_url":"https://example.com"}}`,
		"POST /v1/connectors/{ref}":             `{"metadata":{"a":"b"}}`,
		"POST /v1/connectors/{ref}/credentials": `{"user":$USER,"secret":{"headers":{"X":"y"}}}`,
		"POST /v1/policies":                     `{"name":"intruder","policy":"permit (principal, action, resource);"}`,
		"POST /v1/policies/{id}":                `{"description":"intruder"}`,
		"POST /v1/budgets":                      `{"scope":"agent","subject":$AGENT,"period":"day","max_tokens":10}`,
		"POST /v1/budgets/{id}":                 `{"max_tokens":10}`,
		"POST /v1/policies/evaluate":            `{"agent":$AGENT,"user":$USER,"tool":"http_request","arguments":{}}`,
		"POST /v1/responses/{id}/cancel":        `{}`,
		"POST /v1/schedules/{id}/pause":         `{}`,
		"POST /v1/schedules/{id}/resume":        `{}`,
	}
	if b, ok := bodies[op.method+" "+op.path]; ok {
		q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
		body = strings.NewReplacer("$CONV", q(ids["conversation"]), "$AGENT", q(ids["agent"]), "$MODEL", q(ids["model"]),
			"$BLOCK", q(ids["block"]), "$USER", q(target.user), "$RECORD", q(ids["record"])).Replace(b)
	} else if op.method == "POST" {
		t.Fatalf("POST %s: the isolation matrix has no body for it: add one that names the target's resources", op.path)
	}
	return path, q.Encode(), body, kinds
}

func (e *env) send(t *testing.T, key, method, path, query, body string, header map[string]string) (int, string) {
	t.Helper()
	u := e.srv.URL + path
	if query != "" {
		u += "?" + query
	}
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+e.keys[key])
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// TestIsolationMatrix asks every endpoint /openapi.json lists for another
// party's data, in every way the endpoint takes an id: with no key, with
// another project's admin key, and with an invoker key bound to another end
// user of the same project. Each gets 401, 403 or 404 where it names the
// other party's resource, and not one byte of the other party's data
// anywhere; the owner's data is unchanged afterwards.
func TestIsolationMatrix(t *testing.T) {
	e := newEnv(t)
	// bob's data in the operator project ("mine"): the other project's
	// admin ("theirs", no operator) and ada's bound key ask for it.
	bob := plant(t, e, "mine/admin", "bob", "BOB")
	ops := operations(t, e)

	snapshot := func() map[string]string {
		s := map[string]string{}
		for _, path := range []string{"/v1/agents/" + bob.ids["agent"], "/v1/memory/blocks/" + bob.ids["block"], "/v1/conversations/" + bob.ids["conversation"],
			"/v1/conversations/" + bob.ids["conversation"] + "/items", "/v1/responses/" + bob.ids["response"], "/v1/memory/records/" + bob.ids["record"]} {
			status, body := e.do(t, "mine/admin", "GET", path, "")
			if status != 200 {
				t.Fatalf("owner reading %s: %d %s", path, status, body)
			}
			s[path] = body
		}
		return s
	}
	before := snapshot()

	// The owner reads every resource the matrix names: so a 404 below is
	// isolation, not a bad fixture.
	for _, op := range ops {
		if op.method != "GET" || !strings.Contains(op.path, "{") {
			continue
		}
		path, query, _, _ := request(t, op, bob)
		if op.path == "/v1/responses/{id}" {
			query = ""
		}
		status, body := e.send(t, "mine/admin", "GET", path, query, "", nil)
		if status != 200 {
			t.Errorf("owner GET %s: %d %s", path, status, body)
		}
		secretShown(t, body)
	}
	for _, op := range ops {
		if op.method == "GET" && !strings.Contains(op.path, "{") {
			_, body := e.send(t, "mine/admin", "GET", op.path, "", "", nil)
			secretShown(t, body)
		}
	}

	leaks := func(t *testing.T, body string, markers []string, ids map[string]string, asked string) {
		t.Helper()
		for _, m := range markers {
			if strings.Contains(body, m) {
				t.Errorf("leaked %s: %.400s", m, body)
			}
		}
		if strings.HasPrefix(asked, "/v1/audit") {
			// The audit log of the asking project records its own failed
			// attempts on the ids it asked for: those ids are not the
			// other party's data. Markers still must not appear.
			return
		}
		for kind, v := range ids {
			if kind != "model" && kind != "user" && !strings.Contains(asked, v) && strings.Contains(body, v) {
				t.Errorf("leaked the id of %s %s: %.400s", kind, v, body)
			}
		}
	}
	ownedIDs := map[string]string{}
	for kind, v := range bob.ids {
		if userOwned[kind] {
			ownedIDs[kind] = v
		}
	}

	for _, op := range ops {
		t.Run(op.method+" "+op.path, func(t *testing.T) {
			if op.role == "" {
				return // health, readiness and this document: no data
			}
			header := map[string]string{}
			if strings.HasPrefix(op.path, "/v1/messages") {
				header["x-engram-conversation"] = bob.ids["conversation"]
			}
			path, query, body, kinds := request(t, op, bob)
			asked := path + query + body + header["x-engram-conversation"]
			owned := false
			for _, k := range kinds {
				owned = owned || userOwned[k]
			}

			// No key.
			if status, answer := e.send(t, "", op.method, path, query, body, header); status != 401 {
				t.Errorf("no key: %d %.300s", status, answer)
			}

			// Another project's admin: every resource of the operator
			// project is unknown to it.
			status, answer := e.send(t, "theirs/admin", op.method, path, query, body, header)
			switch {
			case strings.HasPrefix(op.path, "/v1/projects") && op.method == "POST" && len(kinds) == 0:
				if status != 403 {
					t.Errorf("a project that is not the operator creating projects: %d %.300s", status, answer)
				}
			case len(kinds) > 0 && status != 404:
				t.Errorf("another project's admin asking for %v: %d %.300s", kinds, status, answer)
			case status >= 500:
				t.Errorf("another project's admin: %d %.300s", status, answer)
			}
			leaks(t, answer, append(bob.userMarkers, bob.projectMarkers...), bob.ids, asked)
			secretShown(t, answer)

			// An invoker bound to ada, asking for bob's data in her own
			// project.
			status, answer = e.send(t, "mine/ada", op.method, path, query, body, header)
			switch {
			case op.role != "invoker":
				if status != 403 {
					t.Errorf("invoker on a %s route: %d %.300s", op.role, status, answer)
				}
			case owned && status != 404:
				t.Errorf("ada asking for bob's %v: %d %.300s", kinds, status, answer)
			case status >= 500:
				t.Errorf("ada: %d %.300s", status, answer)
			}
			leaks(t, answer, bob.userMarkers, ownedIDs, asked)
		})
	}

	for path, body := range snapshot() {
		if body != before[path] {
			t.Errorf("%s changed:\nbefore %s\nafter  %s", path, before[path], body)
		}
	}
}
