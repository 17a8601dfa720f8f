package storetest

import (
	"fmt"
	"testing"

	"github.com/engram-run/engram"
)

// testProjectScoping: every read and write naming another project's id is
// ENotFound and changes nothing; lists show only the project's own rows.
func testProjectScoping(t *testing.T, s engram.Store) {
	mine, theirs := newProject(t, s), newProject(t, s)
	items := msgs("secret", "more")
	c := newConversation(t, s, theirs, false, items...)
	hidden := newConversation(t, s, theirs, true)
	a := &engram.Agent{ID: engram.NewID("agent"), ProjectID: theirs, Name: "theirs", Model: "scripted/echo"}
	must(t, s.CreateAgent(ctx, a))
	r := newResponse(theirs, hidden.ID, 0)
	must(t, s.CreateResponse(ctx, r, msgs("x")))
	secret, shown := engram.NewKeySecret()
	k := &engram.APIKey{ID: engram.NewID("key"), ProjectID: theirs, Prefix: shown, Hash: engram.HashKey(secret), Role: engram.RoleAdmin, CreatedAt: engram.Now()}
	must(t, s.CreateAPIKey(ctx, k))
	// My own conversation, to try their items through.
	own := newConversation(t, s, mine, false, msgs("mine")...)

	checks := map[string]error{}
	_, checks["GetConversation"] = s.GetConversation(ctx, mine, c.ID)
	_, checks["UpdateConversation"] = s.UpdateConversation(ctx, mine, c.ID, map[string]string{"x": "y"})
	checks["DeleteConversation"] = s.DeleteConversation(ctx, mine, c.ID)
	checks["AppendItems"] = s.AppendItems(ctx, mine, c.ID, msgs("intrude"))
	_, checks["GetItem"] = s.GetItem(ctx, mine, c.ID, items[0].ID)
	_, checks["GetItemThroughOwnConversation"] = s.GetItem(ctx, mine, own.ID, items[0].ID)
	_, _, checks["ListItems"] = s.ListItems(ctx, mine, c.ID, engram.Page{})
	checks["DeleteItem"] = s.DeleteItem(ctx, mine, c.ID, items[0].ID)
	checks["DeleteItemThroughOwnConversation"] = s.DeleteItem(ctx, mine, own.ID, items[1].ID)
	_, checks["RecentItems"] = s.RecentItems(ctx, mine, c.ID, 0, 10, 0)
	checks["ForkConversation"] = s.ForkConversation(ctx, &engram.Conversation{ID: engram.NewID("conv"), ProjectID: mine, ForkOf: c.ID, ForkSeq: 1})
	_, checks["GetAgent"] = s.GetAgent(ctx, mine, a.ID, 0)
	_, checks["GetAgentVersion"] = s.GetAgent(ctx, mine, a.ID, 1)
	_, checks["GetAgentByName"] = s.GetAgent(ctx, mine, "theirs", 0)
	checks["UpdateAgent"] = s.UpdateAgent(ctx, &engram.Agent{ID: a.ID, ProjectID: mine, Name: "theirs", Model: "x"})
	_, checks["ListAgentVersions"] = s.ListAgentVersions(ctx, mine, a.ID)
	checks["DeleteAgent"] = s.DeleteAgent(ctx, mine, a.ID)
	checks["DeleteAgentByName"] = s.DeleteAgent(ctx, mine, "theirs")
	_, checks["GetResponse"] = s.GetResponse(ctx, mine, r.ID)
	checks["DeleteResponse"] = s.DeleteResponse(ctx, mine, r.ID)
	_, _, checks["ListInputItems"] = s.ListInputItems(ctx, mine, r.ID, engram.Page{})
	finish := *r
	finish.ProjectID, finish.Status = mine, engram.StatusCompleted
	checks["FinishResponse"] = s.FinishResponse(ctx, &finish, engram.RunEnd{Output: msgs("out")})
	checks["CreateResponse"] = s.CreateResponse(ctx, newResponse(mine, c.ID, 2), msgs("in"))
	checks["RevokeAPIKey"] = s.RevokeAPIKey(ctx, mine, k.ID)
	for name, err := range checks {
		if engram.ErrorCode(err) != engram.ENotFound {
			t.Errorf("%s across projects: err = %v, want ENotFound", name, err)
		}
	}

	convs, _, err := s.ListConversations(ctx, mine, engram.ConversationFilter{})
	must(t, err)
	if len(convs) != 1 || convs[0].ID != own.ID {
		t.Errorf("my conversations: %d listed", len(convs))
	}
	agents, _, err := s.ListAgents(ctx, mine, engram.Page{})
	must(t, err)
	keys, err := s.ListAPIKeys(ctx, mine)
	must(t, err)
	if len(agents)+len(keys) != 0 {
		t.Errorf("lists show another project's rows: %d agents, %d keys", len(agents), len(keys))
	}
	// A name is free in my project though taken in theirs.
	must(t, s.CreateAgent(ctx, &engram.Agent{ID: engram.NewID("agent"), ProjectID: mine, Name: "theirs", Model: "scripted/echo"}))

	// And nothing of theirs changed.
	still, err := s.GetConversation(ctx, theirs, c.ID)
	must(t, err)
	if still.LastSeq != 2 || len(still.Metadata) != 0 || still.Tokens != 20 {
		t.Errorf("their conversation changed: %+v", still)
	}
	if r := recent(t, s, theirs, c.ID, 10, 0); r != "[secret more]" {
		t.Errorf("their log changed: %v", r)
	}
	if got, err := s.GetResponse(ctx, theirs, r.ID); err != nil || got.Status != engram.StatusInProgress || len(got.Output) != 0 {
		t.Errorf("their response changed: %+v, %v", got, err)
	}
	if got, err := s.GetAgent(ctx, theirs, "theirs", 0); err != nil || got.Version != 1 || got.ID != a.ID {
		t.Errorf("their agent changed: %+v, %v", got, err)
	}
	if _, err := s.FindAPIKey(ctx, k.Hash); err != nil {
		t.Errorf("their key was revoked: %v", err)
	}
	if h, err := s.GetConversation(ctx, theirs, hidden.ID); err != nil || h.LastSeq != 1 {
		t.Errorf("their hidden log changed: %+v, %v", h, err)
	}
}

func testAtomicAppend(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	first := msg("user", "first")
	c := newConversation(t, s, pid, false, first)
	dup := msg("user", "dup")
	dup.ID = first.ID
	batch := []*engram.Item{msg("user", "ok1"), dup, msg("user", "ok2")}
	wantCode(t, s.AppendItems(ctx, pid, c.ID, batch), engram.EConflict)
	items, _, err := s.ListItems(ctx, pid, c.ID, engram.Page{Limit: 10})
	must(t, err)
	conv, err := s.GetConversation(ctx, pid, c.ID)
	must(t, err)
	if len(items) != 1 || conv.LastSeq != 1 || conv.Tokens != 10 {
		t.Errorf("after a failed batch: %d items, last_seq %d, tokens %d; want 1, 1, 10", len(items), conv.LastSeq, conv.Tokens)
	}
	if _, err := s.GetItem(ctx, pid, c.ID, batch[0].ID); batch[0].ID != "" && engram.ErrorCode(err) != engram.ENotFound {
		t.Errorf("the batch's first item was kept: %v", err)
	}
	// The log is usable after the failure, and numbering goes on from it.
	next := msg("user", "next")
	must(t, s.AppendItems(ctx, pid, c.ID, []*engram.Item{next}))
	if next.Seq != 2 {
		t.Errorf("seq after a failed batch %d, want 2", next.Seq)
	}
}

func testAtomicCreateConversation(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	first := msg("user", "first")
	newConversation(t, s, pid, false, first)
	dup := msg("user", "dup")
	dup.ID = first.ID
	c := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid}
	wantCode(t, s.CreateConversation(ctx, c, []*engram.Item{msg("user", "ok"), dup}), engram.EConflict)
	_, err := s.GetConversation(ctx, pid, c.ID)
	wantCode(t, err, engram.ENotFound)
	list, _, err := s.ListConversations(ctx, pid, engram.ConversationFilter{})
	must(t, err)
	if len(list) != 1 {
		t.Errorf("%d conversations listed after a failed create, want 1", len(list))
	}
	// The id is still free.
	must(t, s.CreateConversation(ctx, &engram.Conversation{ID: c.ID, ProjectID: pid}, msgs("again")))
}

func testAtomicCreateResponse(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	first := msg("user", "first")
	c := newConversation(t, s, pid, false, first)
	dup := msg("user", "dup")
	dup.ID = first.ID
	r := newResponse(pid, c.ID, 1)
	wantCode(t, s.CreateResponse(ctx, r, []*engram.Item{msg("user", "ok"), dup}), engram.EConflict)
	_, err := s.GetResponse(ctx, pid, r.ID)
	wantCode(t, err, engram.ENotFound)
	if got := recent(t, s, pid, c.ID, 10, 0); got != "[first]" {
		t.Errorf("log after a failed response: %v", got)
	}
	// A response whose id is taken appends none of its input.
	taken := newResponse(pid, c.ID, 1)
	must(t, s.CreateResponse(ctx, taken, nil))
	again := newResponse(pid, c.ID, 1)
	again.ID = taken.ID
	wantCode(t, s.CreateResponse(ctx, again, msgs("lost")), engram.EConflict)
	if got := recent(t, s, pid, c.ID, 10, 0); got != "[first]" {
		t.Errorf("log after a response with a taken id: %v", got)
	}
}

func testAtomicFinishResponse(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	c := newConversation(t, s, pid, true)
	done := newResponse(pid, c.ID, 0)
	must(t, s.CreateResponse(ctx, done, msgs("q0")))
	done.Status = engram.StatusCompleted
	used := &engram.UsageRecord{ID: engram.NewID("usage"), ProjectID: pid, ResponseID: done.ID, ConversationID: c.ID, Provider: "scripted", Model: "echo", CreatedAt: engram.Now()}
	must(t, s.FinishResponse(ctx, done, engram.RunEnd{Output: msgs("a0"), Usage: []*engram.UsageRecord{used}}))

	r := newResponse(pid, c.ID, 2)
	must(t, s.CreateResponse(ctx, r, msgs("q1")))
	r.Status = engram.StatusCompleted
	again := *used // a usage record already stored: the whole finish fails
	again.ResponseID = r.ID
	fresh := &engram.UsageRecord{ID: engram.NewID("usage"), ProjectID: pid, ResponseID: r.ID, ConversationID: c.ID, Provider: "scripted", Model: "echo", CreatedAt: engram.Now()}
	wantCode(t, s.FinishResponse(ctx, r, engram.RunEnd{Output: []*engram.Item{msg("assistant", "lost")}, Usage: []*engram.UsageRecord{fresh, &again}}), engram.EConflict)
	got, err := s.GetResponse(ctx, pid, r.ID)
	must(t, err)
	if got.Status != engram.StatusInProgress || len(got.Output) != 0 || got.LastSeq != 3 {
		t.Errorf("response after a failed finish: %+v", got)
	}
	if log := recent(t, s, pid, c.ID, 10, 0); log != "[q0 a0 q1]" {
		t.Errorf("log after a failed finish: %v", log)
	}
	// The finish can be done again, with records that are new.
	r.Status = engram.StatusCompleted
	must(t, s.FinishResponse(ctx, r, engram.RunEnd{Output: []*engram.Item{msg("assistant", "a1")}, Usage: []*engram.UsageRecord{fresh}}))
	got, err = s.GetResponse(ctx, pid, r.ID)
	must(t, err)
	if got.Status != engram.StatusCompleted || fmt.Sprint(texts(got.Output)) != "[a1]" || got.LastSeq != 4 {
		t.Errorf("response after finishing again: %+v", got)
	}
}
