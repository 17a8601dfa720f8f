package http_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

type blockOut struct {
	ID          string            `json:"id"`
	Object      string            `json:"object"`
	Label       string            `json:"label"`
	Value       string            `json:"value"`
	Description string            `json:"description"`
	Limit       int               `json:"limit"`
	ReadOnly    bool              `json:"read_only"`
	Version     int               `json:"version"`
	Metadata    map[string]string `json:"metadata"`
	EditedBy    string            `json:"edited_by"`
}

func (e *env) block(t *testing.T, method, path, body string) blockOut {
	t.Helper()
	status, out := e.do(t, "mine/admin", method, path, body)
	if status != 200 {
		t.Fatalf("%s %s: %d %s", method, path, status, out)
	}
	var b blockOut
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMemoryBlocks(t *testing.T) {
	e := newEnv(t)
	b := e.block(t, "POST", "/v1/memory/blocks", `{"label":"persona","value":"I keep bees.","description":"who you are","metadata":{"team":"bees"}}`)
	if b.Object != "memory.block" || !strings.HasPrefix(b.ID, "blk_") || b.Version != 1 || b.Limit != 2000 || b.EditedBy != "api" || b.Metadata["team"] != "bees" {
		t.Errorf("created: %+v", b)
	}
	if got := e.block(t, "GET", "/v1/memory/blocks/"+b.ID, ""); !reflect.DeepEqual(got, b) {
		t.Errorf("retrieved %+v, created %+v", got, b)
	}

	// Only the fields given change; each update is a version.
	u := e.block(t, "POST", "/v1/memory/blocks/"+b.ID, `{"value":"I keep bees in Lisbon."}`)
	if u.Version != 2 || u.Value != "I keep bees in Lisbon." || u.Label != "persona" || u.Description != "who you are" {
		t.Errorf("updated: %+v", u)
	}
	u = e.block(t, "POST", "/v1/memory/blocks/"+b.ID, `{"value":"Three hives.","expected_version":2,"read_only":true}`)
	if u.Version != 3 || !u.ReadOnly {
		t.Errorf("updated at version 2: %+v", u)
	}
	if status, out := e.do(t, "mine/admin", "POST", "/v1/memory/blocks/"+b.ID, `{"value":"stale","expected_version":2}`); status != 409 || !strings.Contains(out, `"param":"expected_version"`) {
		t.Errorf("stale expected_version: %d %s", status, out)
	}

	status, out := e.do(t, "mine/invoker", "GET", "/v1/memory/blocks/"+b.ID+"/versions", "")
	var versions struct {
		Object string     `json:"object"`
		Data   []blockOut `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &versions); status != 200 || err != nil || len(versions.Data) != 3 {
		t.Fatalf("versions: %d %s", status, out)
	}
	if versions.Data[0].Value != "I keep bees." || versions.Data[2].Value != "Three hives." || versions.Data[1].Object != "memory.block.version" {
		t.Errorf("versions: %+v", versions.Data)
	}

	e.block(t, "POST", "/v1/memory/blocks", `{"label":"human","value":""}`)
	status, out = e.do(t, "mine/invoker", "GET", "/v1/memory/blocks?limit=1", "")
	if status != 200 || !strings.Contains(out, `"object":"list"`) || !strings.Contains(out, `"has_more":true`) || !strings.Contains(out, `"first_id":"`+b.ID+`"`) {
		t.Errorf("list: %d %s", status, out)
	}
	status, out = e.do(t, "mine/invoker", "GET", "/v1/memory/blocks?after="+b.ID, "")
	if status != 200 || strings.Contains(out, b.ID) || !strings.Contains(out, `"label":"human"`) {
		t.Errorf("list after the first: %d %s", status, out)
	}

	status, out = e.do(t, "mine/admin", "DELETE", "/v1/memory/blocks/"+b.ID, "")
	if status != 200 || out != `{"id":"`+b.ID+`","object":"memory.block.deleted","deleted":true}`+"\n" {
		t.Errorf("delete: %d %s", status, out)
	}
	if status, _ := e.do(t, "mine/admin", "GET", "/v1/memory/blocks/"+b.ID, ""); status != 404 {
		t.Errorf("a deleted block is still there: %d", status)
	}
}

func TestMemoryBlockErrors(t *testing.T) {
	e := newEnv(t)
	_, theirs := e.do(t, "theirs/admin", "POST", "/v1/memory/blocks", `{"label":"secret","value":"their plans"}`)
	_, mine := e.do(t, "mine/admin", "POST", "/v1/memory/blocks", `{"label":"notes","value":"abc","limit":5}`)
	if id(theirs) == "" || id(mine) == "" {
		t.Fatalf("setup: %s %s", theirs, mine)
	}
	tests := []struct {
		name, key, method, path, body string
		status                        int
		contains                      string
	}{
		{"no label", "mine/admin", "POST", "/v1/memory/blocks", `{"value":"x"}`, 400, `"param":"label"`},
		{"bad label", "mine/admin", "POST", "/v1/memory/blocks", `{"label":"My Label"}`, 400, `"param":"label"`},
		{"over limit", "mine/admin", "POST", "/v1/memory/blocks", `{"label":"x","value":"toolong","limit":3}`, 400, `limit of 3`},
		{"limit too large", "mine/admin", "POST", "/v1/memory/blocks", `{"label":"x","limit":20001}`, 400, `"param":"limit"`},
		{"zero limit", "mine/admin", "POST", "/v1/memory/blocks", `{"label":"x","limit":0}`, 400, `"param":"limit"`},
		{"unknown field", "mine/admin", "POST", "/v1/memory/blocks", `{"label":"x","size":3}`, 400, `"param":"size"`},
		{"expected_version on create", "mine/admin", "POST", "/v1/memory/blocks", `{"label":"x","expected_version":1}`, 400, `"param":"expected_version"`},
		{"bad metadata", "mine/admin", "POST", "/v1/memory/blocks", `{"label":"x","metadata":{"k":1}}`, 400, `"param":"metadata"`},
		{"update over limit", "mine/admin", "POST", "/v1/memory/blocks/" + id(mine), `{"value":"abcdef"}`, 400, `limit of 5`},
		{"update unknown field", "mine/admin", "POST", "/v1/memory/blocks/" + id(mine), `{"text":"x"}`, 400, `"param":"text"`},
		{"invoker creates", "mine/invoker", "POST", "/v1/memory/blocks", `{"label":"x"}`, 403, `insufficient_role`},
		{"invoker updates", "mine/invoker", "POST", "/v1/memory/blocks/" + id(mine), `{"value":"x"}`, 403, `insufficient_role`},
		{"invoker deletes", "mine/invoker", "DELETE", "/v1/memory/blocks/" + id(mine), ``, 403, `insufficient_role`},
		{"invoker reads", "mine/invoker", "GET", "/v1/memory/blocks/" + id(mine), ``, 200, `"label":"notes"`},
		{"unknown block", "mine/admin", "GET", "/v1/memory/blocks/blk_nope", ``, 404, `not found`},
		{"another project's block", "mine/admin", "GET", "/v1/memory/blocks/" + id(theirs), ``, 404, `not found`},
		{"another project's versions", "mine/admin", "GET", "/v1/memory/blocks/" + id(theirs) + "/versions", ``, 404, `not found`},
		{"another project's block, update", "mine/admin", "POST", "/v1/memory/blocks/" + id(theirs), `{"value":"mine"}`, 404, `not found`},
		{"another project's block, delete", "mine/admin", "DELETE", "/v1/memory/blocks/" + id(theirs), ``, 404, `not found`},
		{"bad order", "mine/admin", "GET", "/v1/memory/blocks?order=up", ``, 400, `"param":"order"`},
	}
	for _, tt := range tests {
		status, body := e.do(t, tt.key, tt.method, tt.path, tt.body)
		if status != tt.status || !strings.Contains(body, tt.contains) {
			t.Errorf("%s: %d %s, want %d with %s", tt.name, status, body, tt.status, tt.contains)
		}
		if status >= 400 && !strings.Contains(body, `"error":{"message":`) {
			t.Errorf("%s: error body is not OpenAI-shaped: %s", tt.name, body)
		}
		if strings.Contains(body, "their plans") {
			t.Errorf("%s: another project's block leaked: %s", tt.name, body)
		}
	}
	_, list := e.do(t, "mine/admin", "GET", "/v1/memory/blocks", "")
	if strings.Contains(list, id(theirs)) {
		t.Errorf("list shows another project's block: %s", list)
	}
}

// TestAgentBlocks: an agent's memory.blocks makes new blocks from labels
// and values, names existing ones by id, and stores only ids.
func TestAgentBlocks(t *testing.T) {
	e := newEnv(t)
	shared := e.block(t, "POST", "/v1/memory/blocks", `{"label":"policies","value":"Be kind.","read_only":true}`)
	_, theirs := e.do(t, "theirs/admin", "POST", "/v1/memory/blocks", `{"label":"secret","value":"x"}`)

	status, out := e.do(t, "mine/admin", "POST", "/v1/agents", `{"name":"keeper","model":"scripted/echo","memory":{"recall":"off",
		"blocks":[{"label":"persona","value":"I keep bees."},{"id":"`+shared.ID+`"}],"extraction":{"idle_seconds":600}}}`)
	if status != 200 {
		t.Fatalf("create: %d %s", status, out)
	}
	var agent struct {
		ID     string `json:"id"`
		Memory struct {
			Blocks     []map[string]any `json:"blocks"`
			Recall     string           `json:"recall"`
			Extraction struct {
				IdleSeconds int `json:"idle_seconds"`
			} `json:"extraction"`
		} `json:"memory"`
	}
	if err := json.Unmarshal([]byte(out), &agent); err != nil {
		t.Fatal(err)
	}
	if len(agent.Memory.Blocks) != 2 || agent.Memory.Recall != "off" || agent.Memory.Extraction.IdleSeconds != 600 {
		t.Fatalf("agent memory: %s", out)
	}
	newID, _ := agent.Memory.Blocks[0]["id"].(string)
	if len(agent.Memory.Blocks[0]) != 1 || !strings.HasPrefix(newID, "blk_") || agent.Memory.Blocks[1]["id"] != shared.ID {
		t.Errorf("refs are not ids only: %v", agent.Memory.Blocks)
	}
	if b := e.block(t, "GET", "/v1/memory/blocks/"+newID, ""); b.Label != "persona" || b.Value != "I keep bees." || b.Version != 1 || b.EditedBy != "api" {
		t.Errorf("the block the agent made: %+v", b)
	}
	// A second agent shares the block by id, with its label as GET shows it.
	if status, out := e.do(t, "mine/admin", "POST", "/v1/agents", `{"name":"helper","model":"scripted/echo","memory":{"blocks":[{"id":"`+newID+`","label":"persona"}]}}`); status != 200 {
		t.Errorf("sharing a block: %d %s", status, out)
	}
	// Updating other memory fields leaves the blocks alone.
	status, out = e.do(t, "mine/admin", "POST", "/v1/agents/keeper", `{"memory":{"recall":"auto"}}`)
	if status != 200 || !strings.Contains(out, newID) || !strings.Contains(out, `"recall":"auto"`) {
		t.Errorf("update recall: %d %s", status, out)
	}

	_, before := e.do(t, "mine/admin", "GET", "/v1/memory/blocks", "")
	tests := []struct {
		name, body string
		status     int
		contains   string
	}{
		{"two blocks, one label", `{"name":"a1","model":"scripted/echo","memory":{"blocks":[{"label":"persona","value":"x"},{"id":"` + newID + `"}]}}`, 400, `"param":"memory.blocks[1].label"`},
		{"unknown block", `{"name":"a2","model":"scripted/echo","memory":{"blocks":[{"label":"fresh","value":"x"},{"id":"blk_nope"}]}}`, 404, `"param":"memory.blocks[1].id"`},
		{"another project's block", `{"name":"a3","model":"scripted/echo","memory":{"blocks":[{"id":"` + id(theirs) + `"}]}}`, 404, `"param":"memory.blocks[0].id"`},
		{"id and value", `{"name":"a4","model":"scripted/echo","memory":{"blocks":[{"id":"` + newID + `","value":"x"}]}}`, 400, `"param":"memory.blocks[0]"`},
		{"wrong label next to id", `{"name":"a5","model":"scripted/echo","memory":{"blocks":[{"id":"` + newID + `","label":"human"}]}}`, 400, `"param":"memory.blocks[0].label"`},
		{"empty ref", `{"name":"a6","model":"scripted/echo","memory":{"blocks":[{}]}}`, 400, `"param":"memory.blocks[0]"`},
		{"bad label", `{"name":"a7","model":"scripted/echo","memory":{"blocks":[{"label":"Persona","value":"x"}]}}`, 400, `"param":"memory.blocks[0].label"`},
		{"over limit", `{"name":"a8","model":"scripted/echo","memory":{"blocks":[{"label":"p","value":"toolong","limit":3}]}}`, 400, `"param":"memory.blocks[0].value"`},
		{"bad recall", `{"name":"a9","model":"scripted/echo","memory":{"recall":"always"}}`, 400, `"param":"memory.recall"`},
		{"negative extraction", `{"name":"a10","model":"scripted/echo","memory":{"extraction":{"every_turns":-1}}}`, 400, `"param":"memory.extraction.every_turns"`},
		{"unknown memory field", `{"name":"a11","model":"scripted/echo","memory":{"records":true}}`, 400, `Unknown parameter: 'records'`},
		{"name taken", `{"name":"keeper","model":"scripted/echo","memory":{"blocks":[{"label":"orphan","value":"x"}]}}`, 409, `already exists`},
	}
	for _, tt := range tests {
		status, body := e.do(t, "mine/admin", "POST", "/v1/agents", tt.body)
		if status != tt.status || !strings.Contains(body, tt.contains) {
			t.Errorf("%s: %d %s, want %d with %s", tt.name, status, body, tt.status, tt.contains)
		}
	}
	// No refused agent left a block behind.
	if _, after := e.do(t, "mine/admin", "GET", "/v1/memory/blocks", ""); after != before {
		t.Errorf("refused agents changed the blocks:\n%s\n%s", before, after)
	}
}

func TestOpenAPIMemoryBlocks(t *testing.T) {
	e := newEnv(t)
	_, body := e.do(t, "", "GET", "/openapi.json", "")
	for _, want := range []string{`"/v1/memory/blocks"`, `"/v1/memory/blocks/{id}"`, `"/v1/memory/blocks/{id}/versions"`} {
		if !strings.Contains(body, want) {
			t.Errorf("openapi.json lacks %s", want)
		}
	}
}
