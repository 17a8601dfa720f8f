package http_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	enghttp "github.com/engram-run/engram/http"
)

type recordOut struct {
	ID           string            `json:"id"`
	Object       string            `json:"object"`
	Agent        string            `json:"agent"`
	User         string            `json:"user"`
	Kind         string            `json:"kind"`
	Text         string            `json:"text"`
	Metadata     map[string]string `json:"metadata"`
	Source       string            `json:"source"`
	Supersedes   string            `json:"supersedes"`
	SupersededBy string            `json:"superseded_by"`
	OccurredAt   int64             `json:"occurred_at"`
	CreatedAt    int64             `json:"created_at"`
	Score        *float64          `json:"score"`
}

type recordList struct {
	Object  string      `json:"object"`
	Data    []recordOut `json:"data"`
	HasMore bool        `json:"has_more"`
	FirstID *string     `json:"first_id"`
	LastID  *string     `json:"last_id"`
}

// call makes a request that must succeed and decodes its answer.
func (e *env) call(t *testing.T, key, method, path, body string, out any) {
	t.Helper()
	status, data := e.do(t, key, method, path, body)
	if status != 200 {
		t.Fatalf("%s %s %s: %d %s", method, path, body, status, data)
	}
	if err := json.Unmarshal([]byte(data), out); err != nil {
		t.Fatalf("%s %s: %v in %s", method, path, err, data)
	}
}

func (e *env) writeRecord(t *testing.T, key, body string) recordOut {
	t.Helper()
	var r recordOut
	e.call(t, key, "POST", "/v1/memory/records", body, &r)
	return r
}

func textsOf(l recordList) []string {
	var out []string
	for _, r := range l.Data {
		out = append(out, r.Text)
	}
	return out
}

func TestMemoryRecords(t *testing.T) {
	e := newEnvWith(t, nil)
	var keeper struct{ ID string }
	e.call(t, "mine/admin", "POST", "/v1/agents", `{"name":"keeper","model":"scripted/echo"}`, &keeper)

	r := e.writeRecord(t, "mine/invoker", `{"agent":"keeper","user":"ada","text":"Ada keeps three hives in Lisbon.","metadata":{"source":"chat"},"occurred_at":1767225600}`)
	if r.Object != "memory.record" || !strings.HasPrefix(r.ID, "mem") || r.Agent != keeper.ID || r.User != "ada" || r.Kind != "fact" ||
		r.Source != "api" || r.Metadata["source"] != "chat" || r.OccurredAt != 1767225600 || r.CreatedAt == 0 || r.Score != nil {
		t.Errorf("created %+v", r)
	}
	var got recordOut
	e.call(t, "mine/invoker", "GET", "/v1/memory/records/"+r.ID, "", &got)
	if got.ID != r.ID || got.Text != r.Text || got.Object != "memory.record" {
		t.Errorf("retrieved %+v", got)
	}

	// A correction supersedes the old record, which stays listable.
	moved := e.writeRecord(t, "mine/ada", `{"agent":"`+keeper.ID+`","text":"Ada moved her hives to Porto.","kind":"episode","supersedes":"`+r.ID+`"}`)
	if moved.User != "ada" || moved.Supersedes != r.ID || moved.Kind != "episode" {
		t.Errorf("correction %+v", moved)
	}
	e.call(t, "mine/invoker", "GET", "/v1/memory/records/"+r.ID, "", &got)
	if got.SupersededBy != moved.ID {
		t.Errorf("old record after correction: %+v", got)
	}
	var list recordList
	e.call(t, "mine/ada", "GET", "/v1/memory/records?agent=keeper", "", &list)
	if len(list.Data) != 1 || list.Data[0].ID != moved.ID || list.HasMore {
		t.Errorf("list without superseded: %+v", list)
	}
	e.call(t, "mine/ada", "GET", "/v1/memory/records?agent=keeper&include_superseded=true&limit=1", "", &list)
	if len(list.Data) != 1 || list.Data[0].ID != moved.ID || !list.HasMore || list.Object != "list" || *list.FirstID != moved.ID || *list.LastID != moved.ID {
		t.Errorf("first page, newest first: %+v", list)
	}
	e.call(t, "mine/ada", "GET", "/v1/memory/records?agent=keeper&include_superseded=true&limit=1&after="+moved.ID, "", &list)
	if len(list.Data) != 1 || list.Data[0].ID != r.ID || list.HasMore {
		t.Errorf("second page: %+v", list)
	}
	e.call(t, "mine/ada", "GET", "/v1/memory/records?agent=keeper&kind=fact&include_superseded=1", "", &list)
	if len(list.Data) != 1 || list.Data[0].ID != r.ID {
		t.Errorf("kind=fact: %+v", list)
	}
	// Records of no agent are a scope of their own.
	e.call(t, "mine/ada", "GET", "/v1/memory/records", "", &list)
	if len(list.Data) != 0 {
		t.Errorf("no agent's records: %+v", list)
	}

	// Search finds the current record, not the superseded one unless asked.
	var found recordList
	e.call(t, "mine/ada", "POST", "/v1/memory/records/search", `{"agent":"keeper","query":"where are Ada's hives?"}`, &found)
	if len(found.Data) != 1 || found.Data[0].ID != moved.ID || found.Data[0].Score == nil || *found.Data[0].Score <= 0 || found.Data[0].Object != "memory.record" {
		t.Errorf("search: %+v", found)
	}
	e.call(t, "mine/ada", "POST", "/v1/memory/records/search", `{"agent":"keeper","query":"hives","include_superseded":true,"mode":"bm25","kinds":["fact"]}`, &found)
	if len(found.Data) != 1 || found.Data[0].ID != r.ID {
		t.Errorf("search of superseded facts: %+v", found)
	}

	var deleted struct {
		ID      string
		Object  string
		Deleted bool
	}
	e.call(t, "mine/ada", "DELETE", "/v1/memory/records/"+moved.ID, "", &deleted)
	if deleted.ID != moved.ID || deleted.Object != "memory.record.deleted" || !deleted.Deleted {
		t.Errorf("deleted: %+v", deleted)
	}
	if status, body := e.do(t, "mine/ada", "GET", "/v1/memory/records/"+moved.ID, ""); status != 404 {
		t.Errorf("after delete: %d %s", status, body)
	}
	e.call(t, "mine/ada", "POST", "/v1/memory/records/search", `{"agent":"keeper","query":"Porto"}`, &found)
	if len(found.Data) != 0 {
		t.Errorf("a deleted record is found: %+v", found)
	}
}

// TestMemoryRecordsRecency: of two records the query matches alike, the
// later one comes first.
func TestMemoryRecordsRecency(t *testing.T) {
	e := newEnvWith(t, nil)
	e.writeRecord(t, "mine/invoker", `{"user":"ada","text":"Ada's favourite honey is heather honey.","occurred_at":1700000000}`)
	e.writeRecord(t, "mine/invoker", `{"user":"ada","text":"Ada's favourite honey is orange honey.","occurred_at":1760000000}`)
	e.writeRecord(t, "mine/invoker", `{"user":"ada","text":"Bob's mead needs honey.","occurred_at":1770000000}`)
	var found recordList
	e.call(t, "mine/invoker", "POST", "/v1/memory/records/search", `{"user":"ada","query":"Ada favourite honey","limit":2}`, &found)
	if got := textsOf(found); len(got) != 2 || got[0] != "Ada's favourite honey is orange honey." || got[1] != "Ada's favourite honey is heather honey." {
		t.Errorf("search: %q", got)
	}
	if *found.Data[0].Score <= *found.Data[1].Score || *found.Data[0].Score > 1 {
		t.Errorf("scores %v, %v", *found.Data[0].Score, *found.Data[1].Score)
	}
}

func TestMemoryRecordErrors(t *testing.T) {
	e := newEnvWith(t, nil)
	var theirAgent struct{ ID string }
	e.call(t, "theirs/admin", "POST", "/v1/agents", `{"name":"spy","model":"scripted/echo"}`, &theirAgent)
	e.call(t, "mine/admin", "POST", "/v1/agents", `{"name":"keeper","model":"scripted/echo"}`, &struct{}{})
	theirs := e.writeRecord(t, "theirs/admin", `{"user":"ada","text":"their secret recipe"}`)
	bobs := e.writeRecord(t, "mine/invoker", `{"user":"bob","text":"bob's secret recipe"}`)
	adas := e.writeRecord(t, "mine/invoker", `{"user":"ada","text":"ada's own note"}`)
	superseded := e.writeRecord(t, "mine/invoker", `{"user":"ada","text":"old note"}`)
	e.writeRecord(t, "mine/invoker", `{"user":"ada","text":"new note","supersedes":"`+superseded.ID+`"}`)

	tests := []struct {
		name, key, method, path, body string
		status                        int
		contains                      string
	}{
		{"empty text", "mine/invoker", "POST", "/v1/memory/records", `{"user":"ada","text":"  "}`, 400, `"param":"text"`},
		{"no text", "mine/invoker", "POST", "/v1/memory/records", `{"user":"ada"}`, 400, `"param":"text"`},
		{"unknown field", "mine/invoker", "POST", "/v1/memory/records", `{"text":"x","namespace":"users/ada"}`, 400, `"param":"namespace"`},
		{"bad kind", "mine/invoker", "POST", "/v1/memory/records", `{"text":"x","kind":"rumour"}`, 400, `"param":"kind"`},
		{"bad metadata", "mine/invoker", "POST", "/v1/memory/records", `{"text":"x","metadata":{"n":1}}`, 400, `"param":"metadata"`},
		{"bad occurred_at", "mine/invoker", "POST", "/v1/memory/records", `{"text":"x","occurred_at":"yesterday"}`, 400, `"param":"occurred_at"`},
		{"bad json", "mine/invoker", "POST", "/v1/memory/records", `{"text":`, 400, `"code":"invalid_json"`},
		{"oversize", "mine/invoker", "POST", "/v1/memory/records", `{"text":"` + strings.Repeat("a", 70<<10) + `"}`, 413, `larger than`},
		{"unknown agent", "mine/invoker", "POST", "/v1/memory/records", `{"agent":"nobody","text":"x"}`, 404, `"param":"agent"`},
		{"another project's agent", "mine/invoker", "POST", "/v1/memory/records", `{"agent":"` + theirAgent.ID + `","text":"x"}`, 404, `"param":"agent"`},
		{"supersede another project's record", "mine/invoker", "POST", "/v1/memory/records", `{"user":"ada","text":"x","supersedes":"` + theirs.ID + `"}`, 404, `"param":"supersedes"`},
		{"supersede another user's record", "mine/invoker", "POST", "/v1/memory/records", `{"user":"ada","text":"x","supersedes":"` + bobs.ID + `"}`, 404, `"param":"supersedes"`},
		{"supersede twice", "mine/invoker", "POST", "/v1/memory/records", `{"user":"ada","text":"x","supersedes":"` + superseded.ID + `"}`, 409, `"param":"supersedes"`},
		{"bound key writes for another user", "mine/ada", "POST", "/v1/memory/records", `{"user":"bob","text":"x"}`, 404, `"param":"user"`},
		{"bound key lists another user's", "mine/ada", "GET", "/v1/memory/records?user=bob", ``, 404, `"param":"user"`},
		{"bound key searches another user's", "mine/ada", "POST", "/v1/memory/records/search", `{"user":"bob","query":"recipe"}`, 404, `"param":"user"`},
		{"bound key reads another user's", "mine/ada", "GET", "/v1/memory/records/" + bobs.ID, ``, 404, `not found`},
		{"bound key deletes another user's", "mine/ada", "DELETE", "/v1/memory/records/" + bobs.ID, ``, 404, `not found`},
		{"bound key reads own", "mine/ada", "GET", "/v1/memory/records/" + adas.ID, ``, 200, adas.ID},
		{"another project's record", "mine/admin", "GET", "/v1/memory/records/" + theirs.ID, ``, 404, `not found`},
		{"delete another project's record", "mine/admin", "DELETE", "/v1/memory/records/" + theirs.ID, ``, 404, `not found`},
		{"unknown record", "mine/admin", "GET", "/v1/memory/records/mem_nope", ``, 404, `not found`},
		{"list bad kind", "mine/admin", "GET", "/v1/memory/records?kind=rumour", ``, 400, `"param":"kind"`},
		{"list bad include_superseded", "mine/admin", "GET", "/v1/memory/records?include_superseded=maybe", ``, 400, `"param":"include_superseded"`},
		{"list bad limit", "mine/admin", "GET", "/v1/memory/records?limit=101", ``, 400, `"param":"limit"`},
		{"list unknown agent", "mine/admin", "GET", "/v1/memory/records?agent=nobody", ``, 404, `"param":"agent"`},
		{"search no query", "mine/admin", "POST", "/v1/memory/records/search", `{"user":"ada"}`, 400, `"param":"query"`},
		{"search bad mode", "mine/admin", "POST", "/v1/memory/records/search", `{"query":"x","mode":"vector"}`, 400, `"param":"mode"`},
		{"search bad kinds", "mine/admin", "POST", "/v1/memory/records/search", `{"query":"x","kinds":["rumour"]}`, 400, `"param":"kinds"`},
		{"search bad limit", "mine/admin", "POST", "/v1/memory/records/search", `{"query":"x","limit":101}`, 400, `"param":"limit"`},
		{"search unknown field", "mine/admin", "POST", "/v1/memory/records/search", `{"query":"x","namespace":"y"}`, 400, `"param":"namespace"`},
		{"search another project's agent", "mine/admin", "POST", "/v1/memory/records/search", `{"query":"recipe","agent":"spy"}`, 404, `"param":"agent"`},
		{"no key", "", "GET", "/v1/memory/records", ``, 401, `missing_api_key`},
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
			if strings.Contains(body, "secret recipe") {
				t.Errorf("another scope's memory leaked: %s", body)
			}
		})
	}

	// Searches and lists never cross projects or users.
	var found recordList
	e.call(t, "mine/admin", "POST", "/v1/memory/records/search", `{"user":"ada","query":"secret recipe"}`, &found)
	if len(found.Data) != 0 {
		t.Errorf("ada's search found %q", textsOf(found))
	}
	e.call(t, "mine/ada", "GET", "/v1/memory/records", ``, &found)
	for _, r := range found.Data {
		if r.User != "ada" {
			t.Errorf("ada's key lists %+v", r)
		}
	}
	e.call(t, "theirs/admin", "GET", "/v1/memory/records?user=ada", ``, &found)
	if got := textsOf(found); len(got) != 1 || got[0] != "their secret recipe" {
		t.Errorf("their list: %q", got)
	}
}

// TestMemoryNotConfigured: without a memory service the endpoints that need
// it say so; the store's own endpoints still answer.
func TestMemoryNotConfigured(t *testing.T) {
	e := newEnvWith(t, nil)
	api := &enghttp.Server{Store: e.store}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()
	e.srv = srv
	if status, body := e.do(t, "mine/admin", "POST", "/v1/memory/records", `{"text":"x"}`); status != 503 {
		t.Errorf("write: %d %s", status, body)
	}
	if status, body := e.do(t, "mine/admin", "GET", "/v1/memory/records", ``); status != 200 {
		t.Errorf("list: %d %s", status, body)
	}
}

func TestMemoryRecordsInOpenAPI(t *testing.T) {
	e := newEnvWith(t, nil)
	var doc struct {
		Paths map[string]map[string]struct {
			Summary string `json:"summary"`
		} `json:"paths"`
	}
	e.call(t, "", "GET", "/openapi.json", "", &doc)
	for path, methods := range map[string][]string{"/v1/memory/records": {"post", "get"}, "/v1/memory/records/{id}": {"get", "delete"}, "/v1/memory/records/search": {"post"}} {
		for _, m := range methods {
			if doc.Paths[path][m].Summary == "" {
				t.Errorf("openapi.json lacks %s %s", m, path)
			}
		}
	}
}
