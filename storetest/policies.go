package storetest

import (
	"errors"
	"reflect"
	"testing"

	"github.com/engram-run/engram"
)

func testPolicies(t *testing.T, s engram.Store) {
	pid, other := newProject(t, s), newProject(t, s)
	none, err := s.ListPolicies(ctx, pid)
	must(t, err)
	if len(none) != 0 {
		t.Fatalf("a new project lists %d policies", len(none))
	}
	p := &engram.Policy{ProjectID: pid, Name: "no-internal-hosts", Text: `forbid (principal, action, resource);`, Description: "d"}
	must(t, s.CreatePolicy(ctx, p))
	if p.ID == "" || p.CreatedAt == 0 || p.UpdatedAt != p.CreatedAt {
		t.Fatalf("CreatePolicy left id %q, created_at %d, updated_at %d", p.ID, p.CreatedAt, p.UpdatedAt)
	}
	for _, key := range []string{p.ID, p.Name} {
		got, err := s.GetPolicy(ctx, pid, key)
		must(t, err)
		if !reflect.DeepEqual(got, p) {
			t.Errorf("GetPolicy(%s) = %+v, want %+v", key, got, p)
		}
	}
	// Names are unique in a project, not across projects.
	err = s.CreatePolicy(ctx, &engram.Policy{ProjectID: pid, Name: p.Name, Text: "x"})
	wantCode(t, err, engram.EConflict)
	if e, ok := errors.AsType[*engram.Error](err); !ok || e.Param != "name" {
		t.Errorf("a duplicate name's error is %v, want one naming param name", err)
	}
	must(t, s.CreatePolicy(ctx, &engram.Policy{ProjectID: other, Name: p.Name, Text: "theirs"}))
	wantCode(t, s.CreatePolicy(ctx, &engram.Policy{ProjectID: "proj_missing", Name: "x", Text: "x"}), engram.ENotFound)

	second := &engram.Policy{ProjectID: pid, Name: "second", Text: `permit (principal, action, resource);`, CreatedAt: p.CreatedAt + 1}
	must(t, s.CreatePolicy(ctx, second))
	list, err := s.ListPolicies(ctx, pid)
	must(t, err)
	if len(list) != 2 || list[0].ID != p.ID || list[1].ID != second.ID {
		t.Fatalf("ListPolicies = %+v, want [%s %s]", list, p.ID, second.ID)
	}

	// Another project's policy is not there for it.
	_, err = s.GetPolicy(ctx, other, second.ID)
	wantCode(t, err, engram.ENotFound)
	theirs := *second
	theirs.ProjectID = other
	wantCode(t, s.UpdatePolicy(ctx, &theirs), engram.ENotFound)
	wantCode(t, s.DeletePolicy(ctx, other, second.ID), engram.ENotFound)

	upd := &engram.Policy{ID: second.ID, ProjectID: pid, Name: "renamed", Text: "new text", Description: "new"}
	must(t, s.UpdatePolicy(ctx, upd))
	if upd.CreatedAt != second.CreatedAt || upd.UpdatedAt == 0 {
		t.Errorf("UpdatePolicy set created_at %d (want %d), updated_at %d", upd.CreatedAt, second.CreatedAt, upd.UpdatedAt)
	}
	got, err := s.GetPolicy(ctx, pid, "renamed")
	must(t, err)
	if !reflect.DeepEqual(got, upd) {
		t.Errorf("after UpdatePolicy, GetPolicy = %+v, want %+v", got, upd)
	}
	clash := *upd
	clash.Name = p.Name
	wantCode(t, s.UpdatePolicy(ctx, &clash), engram.EConflict)

	must(t, s.DeletePolicy(ctx, pid, p.ID))
	wantCode(t, s.DeletePolicy(ctx, pid, p.ID), engram.ENotFound)
	_, err = s.GetPolicy(ctx, pid, p.Name)
	wantCode(t, err, engram.ENotFound)
	list, err = s.ListPolicies(ctx, pid)
	must(t, err)
	if len(list) != 1 || list[0].ID != second.ID {
		t.Errorf("after DeletePolicy, ListPolicies = %+v", list)
	}
	list, err = s.ListPolicies(ctx, other)
	must(t, err)
	if len(list) != 1 || list[0].Text != "theirs" {
		t.Errorf("the other project's policies = %+v", list)
	}
}
