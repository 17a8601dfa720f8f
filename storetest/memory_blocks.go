package storetest

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/engram-run/engram"
)

func newBlock(t *testing.T, s engram.Store, projectID, label, value string) *engram.MemoryBlock {
	t.Helper()
	b := &engram.MemoryBlock{ProjectID: projectID, Label: label, Value: value, Metadata: map[string]string{"k": "v"}}
	must(t, s.CreateBlock(ctx, b))
	return b
}

func testBlocks(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	b := &engram.MemoryBlock{ProjectID: pid, Label: "persona", Description: "who you are", Value: "I keep bees."}
	must(t, s.CreateBlock(ctx, b))
	if !strings.HasPrefix(b.ID, "blk_") || b.Version != 1 || b.Limit != engram.DefaultBlockLimit || b.EditedBy != engram.EditedByAPI ||
		b.CreatedAt == 0 || b.UpdatedAt != b.CreatedAt || b.Metadata == nil {
		t.Errorf("CreateBlock filled %+v", b)
	}
	got, err := s.GetBlock(ctx, pid, b.ID)
	must(t, err)
	if !reflect.DeepEqual(got, b) {
		t.Errorf("GetBlock = %+v, want %+v", got, b)
	}
	wantCode(t, s.CreateBlock(ctx, b), engram.EConflict)
	wantCode(t, s.CreateBlock(ctx, &engram.MemoryBlock{ProjectID: "proj_missing", Label: "x"}), engram.ENotFound)
	for _, bad := range []*engram.MemoryBlock{
		{ProjectID: pid},
		{ProjectID: pid, Label: "Persona"},
		{ProjectID: pid, Label: "-x"},
		{ProjectID: pid, Label: strings.Repeat("a", 65)},
		{ProjectID: pid, Label: "x", Limit: engram.MaxBlockLimit + 1},
		{ProjectID: pid, Label: "x", Limit: -1},
		{ProjectID: pid, Label: "x", Limit: 3, Value: "four"},
	} {
		wantCode(t, s.CreateBlock(ctx, bad), engram.EInvalid)
	}
	// The limit counts characters, not bytes.
	must(t, s.CreateBlock(ctx, &engram.MemoryBlock{ProjectID: pid, Label: "accents", Limit: 4, Value: "ação"}))

	// Each update is a new version; the old ones are kept as they were.
	next := *b
	next.Value, next.Description, next.Metadata = "I keep bees in Lisbon.", "", nil
	next.EditedBy, next.ConversationID, next.ResponseID, next.CallID = engram.EditedByAgent, "conv_1", "resp_1", "call_1"
	must(t, s.UpdateBlock(ctx, &next, 1))
	if next.Version != 2 || next.CreatedAt != b.CreatedAt {
		t.Errorf("after update: version %d, created_at %d", next.Version, next.CreatedAt)
	}
	got, err = s.GetBlock(ctx, pid, b.ID)
	must(t, err)
	if !reflect.DeepEqual(got, &next) {
		t.Errorf("GetBlock after update = %+v, want %+v", got, &next)
	}
	versions, err := s.ListBlockVersions(ctx, pid, b.ID)
	must(t, err)
	if len(versions) != 2 || versions[0].Version != 1 || versions[0].Value != "I keep bees." || versions[0].Description != "who you are" ||
		versions[0].EditedBy != engram.EditedByAPI || versions[1].Version != 2 || versions[1].CallID != "call_1" ||
		versions[1].ResponseID != "resp_1" || versions[1].ConversationID != "conv_1" {
		t.Errorf("versions = %+v %+v", versions[0], versions[1])
	}

	// Two editors that read version 2: the second is refused.
	first, second := next, next
	first.Value, second.Value = "first", "second"
	must(t, s.UpdateBlock(ctx, &first, 2))
	wantCode(t, s.UpdateBlock(ctx, &second, 2), engram.EConflict)
	got, err = s.GetBlock(ctx, pid, b.ID)
	must(t, err)
	if got.Value != "first" || got.Version != 3 {
		t.Errorf("after a refused edit: %q version %d", got.Value, got.Version)
	}

	// An update over the limit, or shrinking it below the value, changes nothing.
	long := *got
	long.Value = strings.Repeat("x", long.Limit+1)
	wantCode(t, s.UpdateBlock(ctx, &long, 3), engram.EInvalid)
	small := *got
	small.Limit = 2
	wantCode(t, s.UpdateBlock(ctx, &small, 3), engram.EInvalid)
	wantCode(t, s.UpdateBlock(ctx, &engram.MemoryBlock{ProjectID: pid, ID: "blk_missing", Label: "x"}, 1), engram.ENotFound)
	if versions, _ := s.ListBlockVersions(ctx, pid, b.ID); len(versions) != 3 {
		t.Errorf("refused edits made versions: %d", len(versions))
	}
}

// testBlockReadOnly: a read-only block refuses agents' edits, even one
// that would clear the flag; the API may still edit it.
func testBlockReadOnly(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	b := &engram.MemoryBlock{ProjectID: pid, Label: "policies", Value: "Never sell honey.", ReadOnly: true}
	must(t, s.CreateBlock(ctx, b))
	edit := *b
	edit.Value, edit.EditedBy = "Sell honey.", engram.EditedByAgent
	wantCode(t, s.UpdateBlock(ctx, &edit, 1), engram.EInvalid)
	edit.ReadOnly = false
	wantCode(t, s.UpdateBlock(ctx, &edit, 1), engram.EInvalid)
	api := *b
	api.Value = "Sell honey on Sundays."
	must(t, s.UpdateBlock(ctx, &api, 1))
	got, err := s.GetBlock(ctx, pid, b.ID)
	must(t, err)
	if got.Value != "Sell honey on Sundays." || !got.ReadOnly || got.Version != 2 {
		t.Errorf("after the API's edit: %+v", got)
	}
	// Once the API clears the flag, agents may edit.
	api = *got
	api.ReadOnly = false
	must(t, s.UpdateBlock(ctx, &api, 2))
	edit = api
	edit.EditedBy = engram.EditedByAgent
	must(t, s.UpdateBlock(ctx, &edit, 3))
}

// testGetBlocks: the blocks asked for that exist, in the order asked.
func testGetBlocks(t *testing.T, s engram.Store) {
	pid, other := newProject(t, s), newProject(t, s)
	a := newBlock(t, s, pid, "a", "one")
	b := newBlock(t, s, pid, "b", "two")
	c := newBlock(t, s, pid, "c", "three")
	theirs := newBlock(t, s, other, "theirs", "secret")
	gone := newBlock(t, s, pid, "gone", "")
	must(t, s.DeleteBlock(ctx, pid, gone.ID))
	upd := *b
	upd.Value = "two, revised"
	must(t, s.UpdateBlock(ctx, &upd, 1))

	got, err := s.GetBlocks(ctx, pid, []string{c.ID, "blk_missing", theirs.ID, a.ID, gone.ID, b.ID})
	must(t, err)
	var labels, values []string
	for _, blk := range got {
		labels, values = append(labels, blk.Label), append(values, blk.Value)
	}
	if !slices.Equal(labels, []string{"c", "a", "b"}) || values[2] != "two, revised" {
		t.Errorf("GetBlocks = %v %v, want c, a, b at their latest versions", labels, values)
	}
	if got, err := s.GetBlocks(ctx, pid, nil); err != nil || len(got) != 0 {
		t.Errorf("GetBlocks(none) = %v, %v", got, err)
	}
}

// testBlockScoping: another project's block is not there, for every method.
func testBlockScoping(t *testing.T, s engram.Store) {
	mine, theirs := newProject(t, s), newProject(t, s)
	b := newBlock(t, s, theirs, "persona", "theirs")
	checks := map[string]error{}
	_, checks["GetBlock"] = s.GetBlock(ctx, mine, b.ID)
	_, checks["ListBlockVersions"] = s.ListBlockVersions(ctx, mine, b.ID)
	intrude := *b
	intrude.ProjectID, intrude.Value = mine, "mine now"
	checks["UpdateBlock"] = s.UpdateBlock(ctx, &intrude, 1)
	checks["DeleteBlock"] = s.DeleteBlock(ctx, mine, b.ID)
	for name, err := range checks {
		if engram.ErrorCode(err) != engram.ENotFound {
			t.Errorf("%s across projects: err = %v, want ENotFound", name, err)
		}
	}
	if got, err := s.GetBlocks(ctx, mine, []string{b.ID}); err != nil || len(got) != 0 {
		t.Errorf("GetBlocks across projects = %v, %v", got, err)
	}
	if list, _, err := s.ListBlocks(ctx, mine, engram.Page{}); err != nil || len(list) != 0 {
		t.Errorf("ListBlocks across projects = %v, %v", list, err)
	}
	// The same id is free to a block of my own: ids are per project.
	must(t, s.CreateBlock(ctx, &engram.MemoryBlock{ID: b.ID, ProjectID: mine, Label: "persona", Value: "mine"}))
	got, err := s.GetBlock(ctx, theirs, b.ID)
	must(t, err)
	if got.Value != "theirs" || got.Version != 1 {
		t.Errorf("their block changed: %+v", got)
	}
}

func testBlockDelete(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	b := newBlock(t, s, pid, "persona", "v1")
	upd := *b
	upd.Value = "v2"
	must(t, s.UpdateBlock(ctx, &upd, 1))
	must(t, s.DeleteBlock(ctx, pid, b.ID))
	_, err := s.GetBlock(ctx, pid, b.ID)
	wantCode(t, err, engram.ENotFound)
	_, err = s.ListBlockVersions(ctx, pid, b.ID)
	wantCode(t, err, engram.ENotFound)
	wantCode(t, s.UpdateBlock(ctx, &upd, 2), engram.ENotFound)
	wantCode(t, s.DeleteBlock(ctx, pid, b.ID), engram.ENotFound)
	if list, _, err := s.ListBlocks(ctx, pid, engram.Page{}); err != nil || len(list) != 0 {
		t.Errorf("a deleted block is listed: %v, %v", list, err)
	}
}

func testBlockPaging(t *testing.T, s engram.Store) {
	pid, other := newProject(t, s), newProject(t, s)
	var ids []string
	for i := range 6 {
		b := &engram.MemoryBlock{ProjectID: pid, Label: "b", CreatedAt: int64(1000 + i/2)} // pairs share a second
		must(t, s.CreateBlock(ctx, b))
		ids = append(ids, b.ID)
		newBlock(t, s, other, "other", "")
	}
	// Updating a block does not move it in the list.
	b, err := s.GetBlock(ctx, pid, ids[0])
	must(t, err)
	b.Value = "edited"
	must(t, s.UpdateBlock(ctx, b, 1))
	checkPages(t, ids, func(p engram.Page) ([]string, bool, error) {
		list, more, err := s.ListBlocks(ctx, pid, p)
		out := make([]string, len(list))
		for i, b := range list {
			out[i] = b.ID
		}
		return out, more, err
	})
}
