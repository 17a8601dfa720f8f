// Package storetest is the contract every engram.Store must keep. Each
// database package runs the same suite: Run(t, open).
package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/engram-run/engram"
)

// Run runs the contract suite. open returns a new, empty store.
func Run(t *testing.T, open func(t *testing.T) engram.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s engram.Store)
	}{
		{"ProjectsAndKeys", testProjectsAndKeys},
		{"AgentVersions", testAgentVersions},
		{"Conversations", testConversations},
		{"ItemsAppendAndPage", testItems},
		{"RecentItems", testRecentItems},
		{"Forks", testForks},
		{"Responses", testResponses},
		{"ProjectScoping", testProjectScoping},
		{"FailedTransactionLeavesNothing", testAtomicAppend},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tt.fn(t, s)
		})
	}
}

var ctx = context.Background()

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if engram.ErrorCode(err) != code {
		t.Fatalf("err = %v, want code %s", err, code)
	}
}

func newProject(t *testing.T, s engram.Store) string {
	p := &engram.Project{ID: engram.NewID("proj"), Name: "p", CreatedAt: engram.Now()}
	must(t, s.CreateProject(ctx, p))
	return p.ID
}

func msg(role, text string) *engram.Item {
	part := engram.ContentInputText
	if role == "assistant" {
		part = engram.ContentOutputText
	}
	return &engram.Item{Type: engram.ItemMessage, Role: role, Status: engram.StatusCompleted,
		Content: []engram.Content{{Type: part, Text: text}}, Tokens: 10}
}

func newConversation(t *testing.T, s engram.Store, projectID string, hidden bool, items ...*engram.Item) *engram.Conversation {
	c := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: projectID, Hidden: hidden, Metadata: map[string]string{}}
	must(t, s.CreateConversation(ctx, c, items))
	return c
}

func texts(items []*engram.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Text()
	}
	return out
}

func testProjectsAndKeys(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	got, err := s.GetProject(ctx, pid)
	must(t, err)
	if got.Name != "p" {
		t.Errorf("project name %q", got.Name)
	}
	_, err = s.GetProject(ctx, "proj_missing")
	wantCode(t, err, engram.ENotFound)
	ps, err := s.ListProjects(ctx)
	must(t, err)
	if len(ps) != 1 || ps[0].ID != pid {
		t.Errorf("ListProjects = %v", ps)
	}

	secret, shown := engram.NewKeySecret()
	k := &engram.APIKey{ID: engram.NewID("key"), ProjectID: pid, Name: "ci", Prefix: shown, Hash: engram.HashKey(secret), Role: engram.RoleInvoker, User: "ada", CreatedAt: engram.Now()}
	must(t, s.CreateAPIKey(ctx, k))
	found, err := s.FindAPIKey(ctx, engram.HashKey(secret))
	must(t, err)
	if found.ID != k.ID || found.Role != engram.RoleInvoker || found.User != "ada" || found.ProjectID != pid || found.Prefix != shown {
		t.Errorf("FindAPIKey = %+v", found)
	}
	_, err = s.FindAPIKey(ctx, engram.HashKey("sk-engram-other"))
	wantCode(t, err, engram.ENotFound)
	dup := *k
	dup.ID = engram.NewID("key")
	wantCode(t, s.CreateAPIKey(ctx, &dup), engram.EConflict)

	keys, err := s.ListAPIKeys(ctx, pid)
	must(t, err)
	if len(keys) != 1 {
		t.Fatalf("ListAPIKeys = %d keys", len(keys))
	}
	must(t, s.RevokeAPIKey(ctx, pid, k.ID))
	_, err = s.FindAPIKey(ctx, engram.HashKey(secret))
	wantCode(t, err, engram.ENotFound)
	wantCode(t, s.RevokeAPIKey(ctx, pid, k.ID), engram.ENotFound)
	keys, _ = s.ListAPIKeys(ctx, pid)
	if len(keys) != 1 || keys[0].RevokedAt == 0 {
		t.Errorf("a revoked key stays listed with its revocation time: %+v", keys)
	}
}

func testAgentVersions(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	a := &engram.Agent{ID: engram.NewID("agent"), ProjectID: pid, Name: "keeper", Model: "scripted/echo", Instructions: "v1",
		Tools: []engram.ToolSpec{{Type: engram.ToolBuiltin, Name: "current_time"}}, Context: engram.ContextPolicy{BudgetTokens: 8000}}
	must(t, s.CreateAgent(ctx, a))
	if a.Version != 1 {
		t.Fatalf("created version %d", a.Version)
	}
	dup := &engram.Agent{ID: engram.NewID("agent"), ProjectID: pid, Name: "keeper", Model: "scripted/echo"}
	wantCode(t, s.CreateAgent(ctx, dup), engram.EConflict)

	a.Instructions = "v2"
	must(t, s.UpdateAgent(ctx, a))
	if a.Version != 2 {
		t.Fatalf("updated version %d", a.Version)
	}
	for _, ref := range []string{a.ID, "keeper"} {
		latest, err := s.GetAgent(ctx, pid, ref, 0)
		must(t, err)
		if latest.Instructions != "v2" || latest.Version != 2 || latest.Context.BudgetTokens != 8000 || len(latest.Tools) != 1 {
			t.Errorf("GetAgent(%s) = %+v", ref, latest)
		}
	}
	v1, err := s.GetAgent(ctx, pid, "keeper", 1)
	must(t, err)
	if v1.Instructions != "v1" {
		t.Errorf("version 1 instructions %q", v1.Instructions)
	}
	_, err = s.GetAgent(ctx, pid, "keeper", 3)
	wantCode(t, err, engram.ENotFound)
	versions, err := s.ListAgentVersions(ctx, pid, "keeper")
	must(t, err)
	if len(versions) != 2 || versions[0].Version != 1 || versions[1].Version != 2 {
		t.Errorf("versions %+v", versions)
	}

	for i := 0; i < 4; i++ {
		must(t, s.CreateAgent(ctx, &engram.Agent{ID: engram.NewID("agent"), ProjectID: pid, Name: fmt.Sprintf("a%d", i), Model: "scripted/echo"}))
	}
	page, more, err := s.ListAgents(ctx, pid, engram.Page{Limit: 3})
	must(t, err)
	if len(page) != 3 || !more {
		t.Fatalf("first page %d more %v", len(page), more)
	}
	rest, more, err := s.ListAgents(ctx, pid, engram.Page{Limit: 3, After: page[2].ID})
	must(t, err)
	if len(rest) != 2 || more {
		t.Fatalf("second page %d more %v", len(rest), more)
	}
	must(t, s.DeleteAgent(ctx, pid, "keeper"))
	_, err = s.GetAgent(ctx, pid, "keeper", 0)
	wantCode(t, err, engram.ENotFound)
	wantCode(t, s.DeleteAgent(ctx, pid, "keeper"), engram.ENotFound)
}

func testConversations(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	var ids []string
	for i := 0; i < 5; i++ {
		c := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid, AgentID: []string{"agent_a", "agent_b"}[i%2], User: []string{"ada", "bob"}[i/3], Metadata: map[string]string{"i": fmt.Sprint(i)}}
		must(t, s.CreateConversation(ctx, c, []*engram.Item{msg("user", "hi")}))
		if c.LastSeq != 1 || c.CreatedAt == 0 {
			t.Fatalf("created conversation %+v", c)
		}
		ids = append(ids, c.ID)
	}
	newConversation(t, s, pid, true) // hidden: never listed
	all, more, err := s.ListConversations(ctx, pid, engram.ConversationFilter{Page: engram.Page{Limit: 10}})
	must(t, err)
	if len(all) != 5 || more {
		t.Fatalf("listed %d (more %v), want the 5 visible", len(all), more)
	}
	byAgent, _, err := s.ListConversations(ctx, pid, engram.ConversationFilter{AgentID: "agent_a", User: "ada", Page: engram.Page{Limit: 10}})
	must(t, err)
	if len(byAgent) != 2 { // i = 0, 2
		t.Errorf("agent_a+ada: %d conversations, want 2", len(byAgent))
	}
	desc, _, err := s.ListConversations(ctx, pid, engram.ConversationFilter{Page: engram.Page{Limit: 2, Order: "desc"}})
	must(t, err)
	if len(desc) != 2 || desc[0].ID != ids[4] || desc[1].ID != ids[3] {
		t.Errorf("desc page = %v", []string{desc[0].ID, desc[1].ID})
	}
	next, _, err := s.ListConversations(ctx, pid, engram.ConversationFilter{Page: engram.Page{Limit: 2, Order: "desc", After: desc[1].ID}})
	must(t, err)
	if len(next) != 2 || next[0].ID != ids[2] {
		t.Errorf("desc after page starts at %s, want %s", next[0].ID, ids[2])
	}

	c, err := s.UpdateConversation(ctx, pid, ids[0], map[string]string{"topic": "bees"})
	must(t, err)
	if c.Metadata["topic"] != "bees" || len(c.Metadata) != 1 {
		t.Errorf("updated metadata %v", c.Metadata)
	}
	got, err := s.GetConversation(ctx, pid, ids[0])
	must(t, err)
	if got.Metadata["topic"] != "bees" || got.AgentID != "agent_a" || got.User != "ada" {
		t.Errorf("GetConversation = %+v", got)
	}
	must(t, s.DeleteConversation(ctx, pid, ids[0]))
	_, err = s.GetConversation(ctx, pid, ids[0])
	wantCode(t, err, engram.ENotFound)
	wantCode(t, s.DeleteConversation(ctx, pid, ids[0]), engram.ENotFound)
	_, err = s.UpdateConversation(ctx, pid, ids[0], nil)
	wantCode(t, err, engram.ENotFound)
}

func testItems(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	c := newConversation(t, s, pid, false)
	var items []*engram.Item
	for i := 0; i < 25; i++ {
		items = append(items, msg("user", fmt.Sprint(i)))
	}
	must(t, s.AppendItems(ctx, pid, c.ID, items[:20]))
	must(t, s.AppendItems(ctx, pid, c.ID, items[20:]))
	for i, it := range items {
		if it.ID == "" || it.Seq != int64(i+1) || it.CreatedAt == 0 || it.ConversationID != c.ID {
			t.Fatalf("item %d after append: id %q seq %d", i, it.ID, it.Seq)
		}
	}
	// Page through both ways.
	for _, order := range []string{"asc", "desc"} {
		var seen []string
		after := ""
		for {
			page, more, err := s.ListItems(ctx, pid, c.ID, engram.Page{Limit: 10, Order: order, After: after})
			must(t, err)
			seen = append(seen, texts(page)...)
			if !more {
				break
			}
			after = page[len(page)-1].ID
		}
		if len(seen) != 25 {
			t.Fatalf("%s: saw %d items", order, len(seen))
		}
		first, last := "0", "24"
		if order == "desc" {
			first, last = last, first
		}
		if seen[0] != first || seen[24] != last {
			t.Errorf("%s: first %s last %s", order, seen[0], seen[24])
		}
	}
	got, err := s.GetItem(ctx, pid, c.ID, items[3].ID)
	must(t, err)
	if got.Text() != "3" || got.Role != "user" || got.Tokens != 10 {
		t.Errorf("GetItem = %+v", got)
	}
	dup := msg("user", "again")
	dup.ID = items[0].ID
	wantCode(t, s.AppendItems(ctx, pid, c.ID, []*engram.Item{dup}), engram.EConflict)

	must(t, s.DeleteItem(ctx, pid, c.ID, items[24].ID))
	_, err = s.GetItem(ctx, pid, c.ID, items[24].ID)
	wantCode(t, err, engram.ENotFound)
	wantCode(t, s.DeleteItem(ctx, pid, c.ID, items[24].ID), engram.ENotFound)
	next := msg("user", "25")
	must(t, s.AppendItems(ctx, pid, c.ID, []*engram.Item{next}))
	if next.Seq != 26 {
		t.Errorf("seq after a deletion = %d, want 26 (never reused)", next.Seq)
	}
	conv, err := s.GetConversation(ctx, pid, c.ID)
	must(t, err)
	if conv.LastSeq != 26 || conv.Tokens != 250 {
		t.Errorf("conversation last_seq %d tokens %d, want 26 and 250 (25 live items of 10)", conv.LastSeq, conv.Tokens)
	}
	n, err := s.ConversationTokens(ctx, pid, c.ID)
	must(t, err)
	if n != 250 {
		t.Errorf("ConversationTokens = %d", n)
	}
	_, _, err = s.ListItems(ctx, pid, "conv_missing", engram.Page{})
	wantCode(t, err, engram.ENotFound)
}

func testRecentItems(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	var items []*engram.Item
	for i := 0; i < 10; i++ {
		items = append(items, msg("user", fmt.Sprint(i)))
	}
	c := newConversation(t, s, pid, false, items...)
	tests := []struct {
		maxItems, maxTokens int
		want                []string
	}{
		{100, 0, []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}},
		{3, 0, []string{"7", "8", "9"}},
		{100, 35, []string{"7", "8", "9"}},
		{100, 5, []string{"9"}}, // the newest item always
	}
	for _, tt := range tests {
		got, err := s.RecentItems(ctx, pid, c.ID, tt.maxItems, tt.maxTokens)
		must(t, err)
		if fmt.Sprint(texts(got)) != fmt.Sprint(tt.want) {
			t.Errorf("RecentItems(%d, %d) = %v, want %v", tt.maxItems, tt.maxTokens, texts(got), tt.want)
		}
	}
	must(t, s.DeleteItem(ctx, pid, c.ID, items[8].ID))
	got, err := s.RecentItems(ctx, pid, c.ID, 3, 0)
	must(t, err)
	if fmt.Sprint(texts(got)) != "[6 7 9]" {
		t.Errorf("after deleting 8: %v", texts(got))
	}
}

func testForks(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	parent := newConversation(t, s, pid, true, msg("user", "a"), msg("assistant", "b"), msg("user", "c"), msg("assistant", "d"))
	fork := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid, ForkOf: parent.ID, ForkSeq: 2}
	must(t, s.ForkConversation(ctx, fork))
	if !fork.Hidden || fork.LastSeq != 2 || fork.Tokens != 20 {
		t.Fatalf("fork = %+v, want hidden, last_seq 2, tokens 20", fork)
	}
	must(t, s.AppendItems(ctx, pid, fork.ID, []*engram.Item{msg("user", "e")}))
	got, err := s.RecentItems(ctx, pid, fork.ID, 100, 0)
	must(t, err)
	if fmt.Sprint(texts(got)) != "[a b e]" {
		t.Errorf("fork window = %v, want [a b e]", texts(got))
	}
	conv, err := s.GetConversation(ctx, pid, fork.ID)
	must(t, err)
	if conv.Tokens != 30 || conv.LastSeq != 3 {
		t.Errorf("fork tokens %d last_seq %d, want 30 and 3", conv.Tokens, conv.LastSeq)
	}
	// A fork of a fork follows both links.
	fork2 := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid, ForkOf: fork.ID, ForkSeq: 3}
	must(t, s.ForkConversation(ctx, fork2))
	must(t, s.AppendItems(ctx, pid, fork2.ID, []*engram.Item{msg("assistant", "f")}))
	got, err = s.RecentItems(ctx, pid, fork2.ID, 100, 0)
	must(t, err)
	if fmt.Sprint(texts(got)) != "[a b e f]" {
		t.Errorf("fork of fork window = %v", texts(got))
	}
	got, err = s.RecentItems(ctx, pid, fork2.ID, 3, 0)
	must(t, err)
	if fmt.Sprint(texts(got)) != "[b e f]" {
		t.Errorf("fork of fork, 3 items = %v", texts(got))
	}
	bad := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid, ForkOf: parent.ID, ForkSeq: 99}
	wantCode(t, s.ForkConversation(ctx, bad), engram.EInvalid)
}

func testResponses(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	c := newConversation(t, s, pid, true)
	temp := 0.5
	r := &engram.Response{ID: engram.NewID("resp"), ProjectID: pid, ConversationID: c.ID, Model: "scripted/echo", Status: engram.StatusInProgress,
		Temperature: &temp, Metadata: map[string]string{"k": "v"}, Store: true, AgentID: "agent_x", AgentVersion: 3, User: "ada", BaseSeq: 0}
	input := []*engram.Item{msg("user", "q1"), msg("user", "q2")}
	must(t, s.CreateResponse(ctx, r, input))
	if r.LastSeq != 2 || input[0].ResponseID != r.ID || input[0].Origin != engram.OriginInput {
		t.Fatalf("after create: last_seq %d, input %+v", r.LastSeq, input[0])
	}
	got, err := s.GetResponse(ctx, pid, r.ID)
	must(t, err)
	if got.Status != engram.StatusInProgress || len(got.Output) != 0 || got.ConversationID != c.ID || got.AgentVersion != 3 || *got.Temperature != 0.5 {
		t.Fatalf("GetResponse in progress = %+v", got)
	}
	// A second run starting from the same point of a hidden log loses.
	stale := &engram.Response{ID: engram.NewID("resp"), ProjectID: pid, ConversationID: c.ID, Status: engram.StatusInProgress, BaseSeq: 0}
	wantCode(t, s.CreateResponse(ctx, stale, []*engram.Item{msg("user", "late")}), engram.EConflict)

	out := []*engram.Item{msg("assistant", "a1"), {Type: engram.ItemFunctionCall, CallID: "call_1", Name: "f", Arguments: "{}", Status: engram.StatusCompleted, Tokens: 5}}
	r.Status, r.CompletedAt, r.Output = engram.StatusCompleted, engram.Now(), out
	r.Usage = &engram.Usage{InputTokens: 20, OutputTokens: 15, TotalTokens: 35}
	r.IncompleteReason = ""
	usage := []*engram.UsageRecord{{ID: engram.NewID("usage"), ProjectID: pid, ResponseID: r.ID, ConversationID: c.ID, Provider: "scripted", Model: "echo",
		Usage: engram.Usage{InputTokens: 20, OutputTokens: 15}, CreatedAt: engram.Now()}}
	must(t, s.FinishResponse(ctx, r, out, usage))
	if r.LastSeq != 4 {
		t.Errorf("last_seq after finish %d, want 4", r.LastSeq)
	}
	got, err = s.GetResponse(ctx, pid, r.ID)
	must(t, err)
	if got.Status != engram.StatusCompleted || len(got.Output) != 2 || got.Output[0].Text() != "a1" || got.Output[1].CallID != "call_1" ||
		got.Usage == nil || got.Usage.TotalTokens != 35 || got.LastSeq != 4 || got.Metadata["k"] != "v" {
		t.Errorf("GetResponse finished = %+v", got)
	}
	conv, err := s.GetConversation(ctx, pid, c.ID)
	must(t, err)
	if conv.LastSeq != 4 || conv.Tokens != 35 {
		t.Errorf("conversation after the turn: last_seq %d tokens %d", conv.LastSeq, conv.Tokens)
	}

	in, more, err := s.ListInputItems(ctx, pid, r.ID, engram.Page{Limit: 1, Order: "asc"})
	must(t, err)
	if len(in) != 1 || !more || in[0].Text() != "q1" {
		t.Errorf("input items page 1 = %v more %v", texts(in), more)
	}
	in, more, err = s.ListInputItems(ctx, pid, r.ID, engram.Page{Limit: 1, Order: "asc", After: in[0].ID})
	must(t, err)
	if len(in) != 1 || more || in[0].Text() != "q2" {
		t.Errorf("input items page 2 = %v more %v", texts(in), more)
	}
	in, _, err = s.ListInputItems(ctx, pid, r.ID, engram.Page{Limit: 10, Order: "desc"})
	must(t, err)
	if fmt.Sprint(texts(in)) != "[q2 q1]" {
		t.Errorf("input items desc = %v", texts(in))
	}

	must(t, s.DeleteResponse(ctx, pid, r.ID))
	_, err = s.GetResponse(ctx, pid, r.ID)
	wantCode(t, err, engram.ENotFound)
	wantCode(t, s.DeleteResponse(ctx, pid, r.ID), engram.ENotFound)
	_, _, err = s.ListInputItems(ctx, pid, r.ID, engram.Page{})
	wantCode(t, err, engram.ENotFound)
	// The log keeps what the response said.
	items, _, err := s.ListItems(ctx, pid, c.ID, engram.Page{Limit: 10})
	must(t, err)
	if len(items) != 4 {
		t.Errorf("log after deleting the response has %d items, want 4", len(items))
	}
}

// testProjectScoping: every read and write naming another project's id is
// ENotFound and shows nothing.
func testProjectScoping(t *testing.T, s engram.Store) {
	mine, theirs := newProject(t, s), newProject(t, s)
	c := newConversation(t, s, theirs, false, msg("user", "secret"))
	hidden := newConversation(t, s, theirs, true)
	item, _, _ := s.ListItems(ctx, theirs, c.ID, engram.Page{Limit: 1})
	a := &engram.Agent{ID: engram.NewID("agent"), ProjectID: theirs, Name: "theirs", Model: "scripted/echo"}
	must(t, s.CreateAgent(ctx, a))
	r := &engram.Response{ID: engram.NewID("resp"), ProjectID: theirs, ConversationID: hidden.ID, Status: engram.StatusInProgress}
	must(t, s.CreateResponse(ctx, r, []*engram.Item{msg("user", "x")}))
	secret, shown := engram.NewKeySecret()
	k := &engram.APIKey{ID: engram.NewID("key"), ProjectID: theirs, Prefix: shown, Hash: engram.HashKey(secret), Role: engram.RoleAdmin, CreatedAt: engram.Now()}
	must(t, s.CreateAPIKey(ctx, k))

	checks := map[string]error{}
	_, checks["GetConversation"] = s.GetConversation(ctx, mine, c.ID)
	_, checks["UpdateConversation"] = s.UpdateConversation(ctx, mine, c.ID, map[string]string{"x": "y"})
	checks["DeleteConversation"] = s.DeleteConversation(ctx, mine, c.ID)
	checks["AppendItems"] = s.AppendItems(ctx, mine, c.ID, []*engram.Item{msg("user", "intrude")})
	_, checks["GetItem"] = s.GetItem(ctx, mine, c.ID, item[0].ID)
	_, _, checks["ListItems"] = s.ListItems(ctx, mine, c.ID, engram.Page{})
	checks["DeleteItem"] = s.DeleteItem(ctx, mine, c.ID, item[0].ID)
	_, checks["RecentItems"] = s.RecentItems(ctx, mine, c.ID, 10, 0)
	_, checks["ConversationTokens"] = s.ConversationTokens(ctx, mine, c.ID)
	_, checks["GetAgent"] = s.GetAgent(ctx, mine, a.ID, 0)
	_, checks["GetAgentByName"] = s.GetAgent(ctx, mine, "theirs", 0)
	checks["UpdateAgent"] = s.UpdateAgent(ctx, &engram.Agent{ID: a.ID, ProjectID: mine, Name: "theirs"})
	_, checks["ListAgentVersions"] = s.ListAgentVersions(ctx, mine, a.ID)
	checks["DeleteAgent"] = s.DeleteAgent(ctx, mine, a.ID)
	_, checks["GetResponse"] = s.GetResponse(ctx, mine, r.ID)
	checks["DeleteResponse"] = s.DeleteResponse(ctx, mine, r.ID)
	_, _, checks["ListInputItems"] = s.ListInputItems(ctx, mine, r.ID, engram.Page{})
	checks["FinishResponse"] = s.FinishResponse(ctx, &engram.Response{ID: r.ID, ProjectID: mine, ConversationID: hidden.ID, Status: engram.StatusCompleted}, nil, nil)
	checks["CreateResponse"] = s.CreateResponse(ctx, &engram.Response{ID: engram.NewID("resp"), ProjectID: mine, ConversationID: c.ID, Status: engram.StatusInProgress}, nil)
	checks["ForkConversation"] = s.ForkConversation(ctx, &engram.Conversation{ID: engram.NewID("conv"), ProjectID: mine, ForkOf: c.ID, ForkSeq: 1})
	checks["RevokeAPIKey"] = s.RevokeAPIKey(ctx, mine, k.ID)
	for name, err := range checks {
		if engram.ErrorCode(err) != engram.ENotFound {
			t.Errorf("%s across projects: err = %v, want ENotFound", name, err)
		}
	}
	convs, _, err := s.ListConversations(ctx, mine, engram.ConversationFilter{})
	must(t, err)
	agents, _, _ := s.ListAgents(ctx, mine, engram.Page{})
	keys, _ := s.ListAPIKeys(ctx, mine)
	if len(convs)+len(agents)+len(keys) != 0 {
		t.Errorf("lists show another project's rows: %d conversations, %d agents, %d keys", len(convs), len(agents), len(keys))
	}
	// And nothing of theirs changed.
	still, err := s.GetConversation(ctx, theirs, c.ID)
	must(t, err)
	if still.LastSeq != 1 || len(still.Metadata) != 0 {
		t.Errorf("their conversation changed: %+v", still)
	}
	if _, err := s.GetResponse(ctx, theirs, r.ID); err != nil {
		t.Errorf("their response: %v", err)
	}
}

func testAtomicAppend(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	c := newConversation(t, s, pid, false, msg("user", "first"))
	existing, _, _ := s.ListItems(ctx, pid, c.ID, engram.Page{})
	dup := msg("user", "dup")
	dup.ID = existing[0].ID
	batch := []*engram.Item{msg("user", "ok1"), dup, msg("user", "ok2")}
	wantCode(t, s.AppendItems(ctx, pid, c.ID, batch), engram.EConflict)
	items, _, err := s.ListItems(ctx, pid, c.ID, engram.Page{Limit: 10})
	must(t, err)
	conv, _ := s.GetConversation(ctx, pid, c.ID)
	if len(items) != 1 || conv.LastSeq != 1 || conv.Tokens != 10 {
		t.Errorf("after a failed batch: %d items, last_seq %d, tokens %d; want 1, 1, 10", len(items), conv.LastSeq, conv.Tokens)
	}
	// A response whose input fails to append is not created either.
	r := &engram.Response{ID: engram.NewID("resp"), ProjectID: pid, ConversationID: c.ID, Status: engram.StatusInProgress}
	wantCode(t, s.CreateResponse(ctx, r, []*engram.Item{dup}), engram.EConflict)
	_, err = s.GetResponse(ctx, pid, r.ID)
	wantCode(t, err, engram.ENotFound)
}
