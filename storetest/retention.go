package storetest

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/engram-run/engram"
)

const day = int64(86400)

// purgeAll runs batches of p until one deletes nothing, returning the sum.
func purgeAll(t *testing.T, s engram.Store, p engram.Purge) engram.PurgeResult {
	t.Helper()
	var sum engram.PurgeResult
	for i := 0; ; i++ {
		res, err := s.Purge(ctx, p)
		must(t, err)
		if res.Deleted == 0 && res.Rows == 0 {
			return sum
		}
		if p.Limit > 0 && res.Rows > int64(p.Limit)+8 {
			t.Fatalf("a batch of limit %d deleted %d rows", p.Limit, res.Rows)
		}
		sum.Deleted += res.Deleted
		sum.Rows += res.Rows
		if i > 10000 {
			t.Fatal("purge does not finish")
		}
	}
}

// purgeKinds purges every kind of p's project as a pass does.
func purgeKinds(t *testing.T, s engram.Store, p engram.Purge) map[string]engram.PurgeResult {
	t.Helper()
	out := map[string]engram.PurgeResult{}
	for _, kind := range engram.PurgeKinds {
		p.Kind = kind
		out[kind] = purgeAll(t, s, p)
	}
	return out
}

// finishRun ends r completed with one output message, a step and events.
func finishRun(t *testing.T, s engram.Store, r *engram.Response, lease engram.Lease, answer string) {
	t.Helper()
	ev := []engram.StoredEvent{{Seq: 0, Data: json.RawMessage(`{"n":0}`)}, {Seq: 1, Data: json.RawMessage(`{"n":1}`)}}
	step := &engram.Step{ResponseID: r.ID, ProjectID: r.ProjectID, N: 1, Kind: engram.StepModel, Status: engram.StepStarted, StartedAt: engram.Now()}
	must(t, s.SaveStep(ctx, step, lease, ev[:1]))
	step.Status = engram.StepCompleted
	r.Status, r.CompletedAt = engram.StatusCompleted, engram.Now()
	must(t, s.FinishResponse(ctx, r, engram.RunEnd{Lease: lease, Output: []*engram.Item{msg("assistant", answer)}, Step: step, Events: ev[1:],
		Usage: []*engram.UsageRecord{{ID: engram.NewID("usage"), ProjectID: r.ProjectID, ResponseID: r.ID, ConversationID: r.ConversationID,
			Provider: "scripted", Model: "echo", Usage: engram.Usage{InputTokens: 7, OutputTokens: 3}, CreatedAt: engram.Now()}}}))
}

// ranConversation is a conversation of agentID with one finished run.
func ranConversation(t *testing.T, s engram.Store, pid, agentID string, hidden bool, question, answer string) (*engram.Conversation, *engram.Response) {
	t.Helper()
	c := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid, AgentID: agentID, User: "ada", Hidden: hidden}
	must(t, s.CreateConversation(ctx, c, nil))
	lease := engram.Lease{Owner: "w", Until: farFuture}
	r := newResponse(pid, c.ID, 0)
	r.Lease = lease
	must(t, s.CreateResponse(ctx, r, msgs(question)))
	finishRun(t, s, r, lease, answer)
	return c, r
}

func gone(t *testing.T, what string, err error) {
	t.Helper()
	if engram.ErrorCode(err) != engram.ENotFound {
		t.Errorf("%s: err = %v, want it purged (not found)", what, err)
	}
}

func kept(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v, want it kept", what, err)
	}
}

// testRetentionPolicy: a project's policy is stored and read back with it.
func testRetentionPolicy(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	p, err := s.GetProject(ctx, pid)
	must(t, err)
	if p.Retention != (engram.Retention{}) {
		t.Errorf("a new project's retention is %+v, want keep everything", p.Retention)
	}
	want := engram.Retention{ConversationsDays: 30, ResponsesDays: 7, EventsDays: 1}
	must(t, s.SetRetention(ctx, pid, want))
	p, err = s.GetProject(ctx, pid)
	must(t, err)
	if p.Retention != want {
		t.Errorf("retention %+v, want %+v", p.Retention, want)
	}
	list, err := s.ListProjects(ctx)
	must(t, err)
	for _, q := range list {
		if q.ID == pid && q.Retention != want {
			t.Errorf("listed retention %+v, want %+v", q.Retention, want)
		}
	}
	wantCode(t, s.SetRetention(ctx, "proj_none", want), engram.ENotFound)

	made := &engram.Project{ID: engram.NewID("proj"), Name: "q", CreatedAt: engram.Now(), Retention: engram.Retention{EventsDays: 3}}
	must(t, s.CreateProject(ctx, made))
	p, err = s.GetProject(ctx, made.ID)
	must(t, err)
	if p.Retention != made.Retention {
		t.Errorf("created with %+v, read %+v", made.Retention, p.Retention)
	}

	// An agent's own policy is part of its definition.
	a := newAgent("keeper", pid)
	a.Retention = &engram.Retention{ConversationsDays: 365}
	must(t, s.CreateAgent(ctx, a))
	got, err := s.GetAgent(ctx, pid, "keeper", 0)
	must(t, err)
	if got.Retention == nil || *got.Retention != *a.Retention {
		t.Errorf("agent retention %+v, want %+v", got.Retention, a.Retention)
	}
}

// testRetentionConversations: an idle conversation goes whole (items,
// their search entries, its responses with steps and events, its
// extraction state); one appended to recently, one with an active run and
// one that another forks from stay; memory records and usage stay; the
// log counts what went.
func testRetentionConversations(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	t0 := engram.Now()
	scope := engram.MemoryScope{ProjectID: pid, AgentID: "agent_a", User: "ada"}

	// Created long ago and never appended to: idle since its creation.
	empty := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid, AgentID: "agent_a", CreatedAt: t0 - 60*day}
	must(t, s.CreateConversation(ctx, empty, nil))
	// Created long ago but appended to now: not idle.
	revived := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid, AgentID: "agent_a", User: "ada", CreatedAt: t0 - 60*day}
	must(t, s.CreateConversation(ctx, revived, nil))
	must(t, s.AppendItems(ctx, pid, revived.ID, msgs("still talking about the marmalade")))

	// A conversation with a finished run, an extraction state and a record.
	old, run := ranConversation(t, s, pid, "agent_a", false, "the orchard has plum trees", "plums noted")
	must(t, s.NoteTurn(ctx, &engram.Extraction{ConversationID: old.ID, ProjectID: pid, AgentID: "agent_a", User: "ada", LastSeq: 2},
		engram.ExtractionPolicy{EveryTurns: 1}, t0))
	record := &engram.MemoryRecord{ProjectID: pid, AgentID: "agent_a", User: "ada", Kind: engram.RecordFact, Text: "Ada grows plums.", ConversationID: old.ID}
	must(t, s.CreateRecord(ctx, record))
	usageBefore, err := s.UsageTotals(ctx, pid, engram.UsageFilter{GroupBy: "project"})
	must(t, err)

	// A conversation whose run is still going.
	lease := engram.Lease{Owner: "w", Until: farFuture}
	busy, _ := startRun(t, s, pid, lease, "a long errand")

	// A parent and its fork, the fork of an agent that keeps for ever.
	parent := newScopedConversation(t, s, scope, false, msgs("the parent's history")...)
	fork := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid, AgentID: "agent_forever", ForkOf: parent.ID, ForkSeq: 1}
	must(t, s.ForkConversation(ctx, fork))
	must(t, s.AppendItems(ctx, pid, fork.ID, msgs("the fork goes on")))

	// A long conversation, purged over several batches.
	long := newScopedConversation(t, s, scope, false)
	for i := 0; i < 5; i++ {
		must(t, s.AppendItems(ctx, pid, long.ID, msgs(fmt.Sprintf("line %da", i), fmt.Sprintf("line %db", i))))
	}

	other := newProject(t, s)
	otherConv := newConversation(t, s, other, false, msgs("another project's words")...)

	policy := engram.Retention{ConversationsDays: 30}
	agents := map[string]engram.Retention{"agent_forever": {}}
	p := engram.Purge{ProjectID: pid, Kind: engram.PurgeConversations, Policy: policy, Agents: agents, Now: t0, Limit: 4, Pass: "rpass_1"}

	// Now: only the conversation idle for 60 days goes.
	res := purgeAll(t, s, p)
	if res.Deleted != 1 {
		t.Errorf("purged %d conversations at t0, want 1 (the idle one)", res.Deleted)
	}
	_, err = s.GetConversation(ctx, pid, empty.ID)
	gone(t, "the conversation idle for 60 days", err)
	_, err = s.GetConversation(ctx, pid, revived.ID)
	kept(t, "an old conversation appended to today", err)

	// 31 days on, everything idle goes but what is still in use.
	p.Now, p.Pass = t0+31*day, "rpass_2"
	res = purgeAll(t, s, p)
	for _, c := range []*engram.Conversation{revived, old, long} {
		_, err := s.GetConversation(ctx, pid, c.ID)
		gone(t, "conversation idle for 31 days", err)
		_, _, err = s.ListItems(ctx, pid, c.ID, engram.Page{})
		gone(t, "its items", err)
	}
	if res.Deleted != 3 {
		t.Errorf("purged %d conversations 31 days on, want 3", res.Deleted)
	}
	_, err = s.GetResponse(ctx, pid, run.ID)
	gone(t, "the response of a purged conversation", err)
	_, err = s.ListEvents(ctx, pid, run.ID, -1)
	gone(t, "its events", err)
	_, err = s.GetExtraction(ctx, pid, old.ID)
	gone(t, "the extraction state of a purged conversation", err)
	found, err := s.SearchItemsText(ctx, scope, []string{"plum", "orchard", "line", "marmalade"}, 10, "")
	must(t, err)
	for _, f := range found {
		if f.Item.ConversationID != parent.ID {
			t.Errorf("search finds %q of purged conversation %s", f.Item.Text(), f.Item.ConversationID)
		}
	}
	_, err = s.GetRecord(ctx, pid, record.ID)
	kept(t, "a memory record learned from a purged conversation", err)
	usageAfter, err := s.UsageTotals(ctx, pid, engram.UsageFilter{GroupBy: "project"})
	must(t, err)
	if len(usageAfter) != 1 || usageAfter[0].InputTokens != usageBefore[0].InputTokens {
		t.Errorf("usage before %+v, after %+v: usage is kept", usageBefore, usageAfter)
	}
	_, err = s.GetConversation(ctx, pid, busy.ID)
	kept(t, "a conversation with a run in progress", err)
	_, err = s.GetConversation(ctx, pid, fork.ID)
	kept(t, "the fork of an agent keeping for ever", err)
	if got := recent(t, s, pid, fork.ID, 10, 0); got != "[the parent's history the fork goes on]" {
		t.Errorf("the fork reads %s: its parent's history must stay while it does", got)
	}
	_, err = s.GetConversation(ctx, other, otherConv.ID)
	kept(t, "another project's conversation", err)

	// The fork's agent now keeps 30 days too: the fork goes, then its
	// parent.
	p.Agents, p.Pass = nil, "rpass_3"
	res = purgeAll(t, s, p)
	if res.Deleted != 2 {
		t.Errorf("purged %d, want the fork and its parent", res.Deleted)
	}
	_, err = s.GetConversation(ctx, pid, parent.ID)
	gone(t, "a parent once its fork went", err)

	// The log: one entry per pass, agent and cutoff, summing its batches.
	log, _, err := s.ListRetentionLog(ctx, pid, engram.Page{Limit: 100})
	must(t, err)
	sums := map[string]int64{}
	var rows int64
	for _, e := range log {
		if e.Kind != engram.PurgeConversations || e.ProjectID != pid || e.ID == "" || e.CreatedAt == 0 || e.UpdatedAt < e.CreatedAt {
			t.Errorf("log entry %+v", e)
		}
		sums[e.Pass+"/"+e.AgentID] += e.Deleted
		rows += e.Rows
		if e.Pass == "rpass_2" && e.Cutoff != t0+day {
			t.Errorf("cutoff %d, want %d", e.Cutoff, t0+day)
		}
	}
	if want := map[string]int64{"rpass_1/agent_a": 1, "rpass_2/agent_a": 3, "rpass_3/agent_a": 1, "rpass_3/agent_forever": 1}; fmt.Sprint(sums) != fmt.Sprint(want) {
		t.Errorf("log sums %v, want %v", sums, want)
	}
	if rows < 20 {
		t.Errorf("the log counts %d rows, fewer than the items alone", rows)
	}
	other2, _, err := s.ListRetentionLog(ctx, other, engram.Page{})
	must(t, err)
	if len(other2) != 0 {
		t.Errorf("another project's log shows %d entries", len(other2))
	}

	// Again: nothing left, nothing logged.
	p.Pass = "rpass_4"
	if res := purgeAll(t, s, p); res.Rows != 0 {
		t.Errorf("a second purge deleted %+v", res)
	}
}

// testRetentionHidden: a hidden conversation (a previous_response_id
// chain) is kept by the shorter of the conversations' and the responses'
// policies; a visible one by the conversations' alone.
func testRetentionHidden(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	t0 := engram.Now()
	chain, chainRun := ranConversation(t, s, pid, "", true, "chain question", "chain answer")
	named, namedRun := ranConversation(t, s, pid, "", false, "named question", "named answer")
	p := engram.Purge{ProjectID: pid, Policy: engram.Retention{ResponsesDays: 7}, Now: t0 + 8*day}
	purgeKinds(t, s, p)
	_, err := s.GetResponse(ctx, pid, chainRun.ID)
	gone(t, "a chain's response", err)
	_, err = s.GetConversation(ctx, pid, chain.ID)
	gone(t, "a chain's log once its responses expire", err)
	_, err = s.GetResponse(ctx, pid, namedRun.ID)
	gone(t, "a named conversation's response", err)
	items, _, err := s.ListItems(ctx, pid, named.ID, engram.Page{})
	must(t, err)
	if fmt.Sprint(texts(items)) != "[named question named answer]" {
		t.Errorf("a named conversation keeps its history when its responses go: %v", texts(items))
	}
}

// testRetentionResponses: a response that ended long enough ago goes with
// its steps and events, per its conversation's agent's policy; its items
// stay; running ones stay.
func testRetentionResponses(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	t0 := engram.Now()
	_, r1 := ranConversation(t, s, pid, "agent_a", false, "q1", "a1")
	_, r2 := ranConversation(t, s, pid, "agent_keep", false, "q2", "a2")
	lease := engram.Lease{Owner: "w", Until: farFuture}
	_, running := startRun(t, s, pid, lease, "q3")

	p := engram.Purge{ProjectID: pid, Kind: engram.PurgeResponses, Policy: engram.Retention{ResponsesDays: 7},
		Agents: map[string]engram.Retention{"agent_keep": {ResponsesDays: 30}}, Now: t0 + 6*day, Limit: 2}
	if res := purgeAll(t, s, p); res.Deleted != 0 {
		t.Fatalf("purged %+v before any response is 7 days old", res)
	}
	p.Now = t0 + 8*day
	res := purgeAll(t, s, p)
	if res.Deleted != 1 || res.Rows < 3 {
		t.Errorf("purged %+v, want one response with its step and events", res)
	}
	_, err := s.GetResponse(ctx, pid, r1.ID)
	gone(t, "a response ended 8 days ago", err)
	_, err = s.ListSteps(ctx, pid, r1.ID)
	gone(t, "its steps", err)
	items, _, err := s.ListItems(ctx, pid, r1.ConversationID, engram.Page{})
	must(t, err)
	if fmt.Sprint(texts(items)) != "[q1 a1]" {
		t.Errorf("the conversation keeps the response's items: %v", texts(items))
	}
	_, err = s.GetResponse(ctx, pid, r2.ID)
	kept(t, "a response of an agent keeping 30 days", err)
	_, err = s.GetResponse(ctx, pid, running.ID)
	kept(t, "a running response", err)

	p.Now = t0 + 31*day
	res = purgeAll(t, s, p)
	if res.Deleted != 1 {
		t.Errorf("31 days on purged %+v, want the agent's response", res)
	}
	_, err = s.GetResponse(ctx, pid, running.ID)
	kept(t, "a running response, however old", err)
}

// testRetentionEvents: stream events go before their response, which
// stays whole otherwise; a pass over them again finds nothing.
func testRetentionEvents(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	t0 := engram.Now()
	_, r := ranConversation(t, s, pid, "", false, "q", "a")
	events, err := s.ListEvents(ctx, pid, r.ID, -1)
	must(t, err)
	if len(events) != 2 {
		t.Fatalf("%d events stored, want 2", len(events))
	}
	p := engram.Purge{ProjectID: pid, Kind: engram.PurgeEvents, Policy: engram.Retention{EventsDays: 1}, Now: t0 + 2*day}
	res := purgeAll(t, s, p)
	if res.Deleted != 1 || res.Rows != 2 {
		t.Errorf("purged %+v, want the two event batches of one response", res)
	}
	events, err = s.ListEvents(ctx, pid, r.ID, -1)
	must(t, err)
	if len(events) != 0 {
		t.Errorf("%d events left", len(events))
	}
	got, err := s.GetResponse(ctx, pid, r.ID)
	must(t, err)
	if len(got.Output) != 1 || got.Output[0].Text() != "a" {
		t.Errorf("the response lost more than its events: %+v", got.Output)
	}
	steps, err := s.ListSteps(ctx, pid, r.ID)
	must(t, err)
	if len(steps) != 1 {
		t.Errorf("%d steps left, want 1", len(steps))
	}
	if res := purgeAll(t, s, p); res != (engram.PurgeResult{}) {
		t.Errorf("a second events purge did %+v", res)
	}
}
