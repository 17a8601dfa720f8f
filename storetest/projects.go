package storetest

import (
	"fmt"
	"testing"

	"github.com/engram-run/engram"
)

func testProjects(t *testing.T, s engram.Store) {
	p := &engram.Project{ID: engram.NewID("proj"), Name: "hives", CreatedAt: 1700000000}
	must(t, s.CreateProject(ctx, p))
	got, err := s.GetProject(ctx, p.ID)
	must(t, err)
	if *got != *p {
		t.Errorf("GetProject = %+v, want %+v", got, p)
	}
	_, err = s.GetProject(ctx, "proj_missing")
	wantCode(t, err, engram.ENotFound)
	wantCode(t, s.CreateProject(ctx, &engram.Project{ID: p.ID, Name: "again", CreatedAt: 1}), engram.EConflict)
	second := newProject(t, s)
	ps, err := s.ListProjects(ctx)
	must(t, err)
	if len(ps) != 2 || ps[0].ID != p.ID || ps[1].ID != second {
		t.Errorf("ListProjects = %v", ps)
	}
}

func testKeys(t *testing.T, s engram.Store) {
	pid, other := newProject(t, s), newProject(t, s)
	secret, shown := engram.NewKeySecret()
	k := &engram.APIKey{ID: engram.NewID("key"), ProjectID: pid, Name: "ci", Prefix: shown, Hash: engram.HashKey(secret), Role: engram.RoleInvoker, User: "ada", CreatedAt: engram.Now()}
	must(t, s.CreateAPIKey(ctx, k))
	found, err := s.FindAPIKey(ctx, engram.HashKey(secret))
	must(t, err)
	if *found != *k {
		t.Errorf("FindAPIKey = %+v, want %+v", found, k)
	}
	// Keys are found by hash in whichever project holds them.
	otherSecret, otherShown := engram.NewKeySecret()
	ok := &engram.APIKey{ID: engram.NewID("key"), ProjectID: other, Name: "admin", Prefix: otherShown, Hash: engram.HashKey(otherSecret), Role: engram.RoleAdmin, CreatedAt: engram.Now()}
	must(t, s.CreateAPIKey(ctx, ok))
	found, err = s.FindAPIKey(ctx, engram.HashKey(otherSecret))
	must(t, err)
	if found.ID != ok.ID || found.ProjectID != other || found.Role != engram.RoleAdmin {
		t.Errorf("FindAPIKey(other project's key) = %+v", found)
	}
	_, err = s.FindAPIKey(ctx, engram.HashKey("sk-engram-never-issued"))
	wantCode(t, err, engram.ENotFound)
	_, err = s.FindAPIKey(ctx, secret) // the secret itself is not its hash
	wantCode(t, err, engram.ENotFound)

	sameHash := *k
	sameHash.ID = engram.NewID("key")
	wantCode(t, s.CreateAPIKey(ctx, &sameHash), engram.EConflict)
	sameID := *k
	sameID.Hash = engram.HashKey("sk-engram-another")
	wantCode(t, s.CreateAPIKey(ctx, &sameID), engram.EConflict)
	wantCode(t, s.CreateAPIKey(ctx, &engram.APIKey{ID: engram.NewID("key"), ProjectID: "proj_missing", Hash: "h", Role: engram.RoleAdmin}), engram.ENotFound)

	second := &engram.APIKey{ID: engram.NewID("key"), ProjectID: pid, Name: "second", Prefix: "p", Hash: engram.HashKey("sk-engram-second"), Role: engram.RoleDeveloper, CreatedAt: k.CreatedAt + 1}
	must(t, s.CreateAPIKey(ctx, second))
	keys, err := s.ListAPIKeys(ctx, pid)
	must(t, err)
	if len(keys) != 2 || keys[0].ID != k.ID || keys[1].ID != second.ID {
		t.Fatalf("ListAPIKeys = %v, want the two keys oldest first", keys)
	}

	must(t, s.RevokeAPIKey(ctx, pid, k.ID))
	_, err = s.FindAPIKey(ctx, engram.HashKey(secret))
	wantCode(t, err, engram.ENotFound)
	wantCode(t, s.RevokeAPIKey(ctx, pid, k.ID), engram.ENotFound)
	wantCode(t, s.RevokeAPIKey(ctx, pid, "key_missing"), engram.ENotFound)
	if _, err := s.FindAPIKey(ctx, second.Hash); err != nil {
		t.Errorf("revoking one key revoked another: %v", err)
	}
	keys, err = s.ListAPIKeys(ctx, pid)
	must(t, err)
	if len(keys) != 2 || keys[0].RevokedAt == 0 || keys[1].RevokedAt != 0 {
		t.Errorf("a revoked key stays listed with its revocation time: %+v %+v", keys[0], keys[1])
	}
}

func newAgent(name string, projectID string) *engram.Agent {
	temp := 0.25
	return &engram.Agent{ID: engram.NewID("agent"), ProjectID: projectID, Name: name, Model: "scripted/echo", Instructions: "v1",
		Description: "keeps bees", Temperature: &temp, MaxToolCalls: 4, Metadata: map[string]string{"team": "apiary"},
		Tools:   []engram.ToolSpec{{Type: engram.ToolBuiltin, Name: "current_time"}, {Type: engram.ToolFunction, Name: "f", Parameters: []byte(`{"type":"object"}`)}},
		Context: engram.ContextPolicy{BudgetTokens: 8000}}
}

func testAgentVersions(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	a := newAgent("keeper", pid)
	must(t, s.CreateAgent(ctx, a))
	if a.Version != 1 || a.CreatedAt == 0 {
		t.Fatalf("created version %d at %d", a.Version, a.CreatedAt)
	}
	v1 := *a
	a.Instructions, a.Model, a.Tools = "v2", "openai/gpt-5.1", nil
	must(t, s.UpdateAgent(ctx, a))
	if a.Version != 2 {
		t.Fatalf("updated version %d, want 2", a.Version)
	}
	for _, ref := range []string{a.ID, "keeper"} {
		latest, err := s.GetAgent(ctx, pid, ref, 0)
		must(t, err)
		if latest.ID != a.ID || latest.Instructions != "v2" || latest.Version != 2 || latest.Model != "openai/gpt-5.1" || len(latest.Tools) != 0 ||
			latest.Context.BudgetTokens != 8000 || latest.CreatedAt != v1.CreatedAt {
			t.Errorf("GetAgent(%s, latest) = %+v", ref, latest)
		}
		old, err := s.GetAgent(ctx, pid, ref, 1)
		must(t, err)
		if old.Instructions != "v1" || old.Version != 1 || old.Model != "scripted/echo" || len(old.Tools) != 2 || string(old.Tools[1].Parameters) != `{"type":"object"}` ||
			*old.Temperature != 0.25 || old.MaxToolCalls != 4 || old.Metadata["team"] != "apiary" || old.Description != "keeps bees" {
			t.Errorf("GetAgent(%s, 1) = %+v", ref, old)
		}
	}
	_, err := s.GetAgent(ctx, pid, "keeper", 3)
	wantCode(t, err, engram.ENotFound)
	_, err = s.GetAgent(ctx, pid, "nobody", 0)
	wantCode(t, err, engram.ENotFound)
	wantCode(t, s.UpdateAgent(ctx, &engram.Agent{ID: "agent_missing", ProjectID: pid, Name: "x"}), engram.ENotFound)

	for _, ref := range []string{a.ID, "keeper"} {
		versions, err := s.ListAgentVersions(ctx, pid, ref)
		must(t, err)
		if len(versions) != 2 || versions[0].Version != 1 || versions[0].Instructions != "v1" || versions[1].Version != 2 {
			t.Errorf("ListAgentVersions(%s) = %+v", ref, versions)
		}
	}
	_, err = s.ListAgentVersions(ctx, pid, "nobody")
	wantCode(t, err, engram.ENotFound)

	must(t, s.DeleteAgent(ctx, pid, "keeper"))
	for _, ref := range []string{a.ID, "keeper"} {
		_, err = s.GetAgent(ctx, pid, ref, 0)
		wantCode(t, err, engram.ENotFound)
		_, err = s.GetAgent(ctx, pid, ref, 1)
		wantCode(t, err, engram.ENotFound)
		_, err = s.ListAgentVersions(ctx, pid, ref)
		wantCode(t, err, engram.ENotFound)
		wantCode(t, s.DeleteAgent(ctx, pid, ref), engram.ENotFound)
	}
	if list, _, err := s.ListAgents(ctx, pid, engram.Page{}); err != nil || len(list) != 0 {
		t.Errorf("ListAgents after delete = %v, %v", list, err)
	}
}

func testAgentNames(t *testing.T, s engram.Store) {
	pid, other := newProject(t, s), newProject(t, s)
	a := newAgent("keeper", pid)
	must(t, s.CreateAgent(ctx, a))
	wantCode(t, s.CreateAgent(ctx, newAgent("keeper", pid)), engram.EConflict)
	must(t, s.CreateAgent(ctx, newAgent("keeper", other))) // names are per project
	wantCode(t, s.CreateAgent(ctx, newAgent("ghost", "proj_missing")), engram.ENotFound)

	b := newAgent("forager", pid)
	must(t, s.CreateAgent(ctx, b))
	b.Name = "keeper"
	wantCode(t, s.UpdateAgent(ctx, b), engram.EConflict)
	got, err := s.GetAgent(ctx, pid, "forager", 0)
	must(t, err)
	if got.Version != 1 {
		t.Errorf("a refused rename made version %d", got.Version)
	}
	// A rename frees the old name; a deletion frees the name.
	b.Name = "scout"
	must(t, s.UpdateAgent(ctx, b))
	if got, err := s.GetAgent(ctx, pid, "scout", 0); err != nil || got.ID != b.ID || got.Version != 2 {
		t.Errorf("GetAgent(scout) = %+v, %v", got, err)
	}
	if got, err := s.GetAgent(ctx, pid, "scout", 1); err != nil || got.Name != "forager" {
		t.Errorf("version 1 keeps its old name: %+v, %v", got, err)
	}
	must(t, s.CreateAgent(ctx, newAgent("forager", pid)))
	must(t, s.DeleteAgent(ctx, pid, a.ID))
	again := newAgent("keeper", pid)
	must(t, s.CreateAgent(ctx, again))
	if got, err := s.GetAgent(ctx, pid, "keeper", 0); err != nil || got.ID != again.ID || got.Version != 1 {
		t.Errorf("the name of a deleted agent, reused: %+v, %v", got, err)
	}
}

func testAgentPaging(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	var ids []string
	for i := 0; i < 6; i++ {
		a := newAgent(fmt.Sprintf("a%d", i), pid)
		must(t, s.CreateAgent(ctx, a))
		ids = append(ids, a.ID)
	}
	// Listing shows each agent once, at its latest version.
	first := newAgent("a0", pid)
	first.ID = ids[0]
	first.Instructions = "v2"
	must(t, s.UpdateAgent(ctx, first))
	all, _, err := s.ListAgents(ctx, pid, engram.Page{Limit: 100})
	must(t, err)
	if len(all) != 6 || all[0].ID != ids[0] || all[0].Version != 2 || all[0].Instructions != "v2" || all[0].ProjectID != pid {
		t.Fatalf("ListAgents = %d agents, first %+v", len(all), all[0])
	}
	checkPages(t, ids, func(p engram.Page) ([]string, bool, error) {
		list, more, err := s.ListAgents(ctx, pid, p)
		out := make([]string, len(list))
		for i, a := range list {
			out[i] = a.ID
		}
		return out, more, err
	})
}
