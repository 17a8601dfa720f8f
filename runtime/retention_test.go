package runtime_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/runtime"
)

// TestRetentionPass: a pass purges each project by its policy, an agent
// with its own policy by that, and the log records what went.
func TestRetentionPass(t *testing.T) {
	rt, _, pid := setupWith(t, func(rt *runtime.Runtime, _ engram.Store) { rt.RetentionBatch = 3 })
	ctx := context.Background()
	keeper := &engram.Agent{ID: engram.NewID("agent"), ProjectID: pid, Name: "keeper", Model: "scripted/echo", Retention: &engram.Retention{}}
	if err := rt.Store.CreateAgent(ctx, keeper); err != nil {
		t.Fatal(err)
	}
	conv := newConversation(t, rt, pid)
	var bare []*engram.Response
	for _, text := range []string{"one", "two", "three"} {
		r, err := say(rt, pid, conv, "scripted/echo", text)
		if err != nil {
			t.Fatal(err)
		}
		bare = append(bare, r)
	}
	kept, err := say(rt, pid, "", "agent/keeper", "keep this")
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Store.SetRetention(ctx, pid, engram.Retention{ConversationsDays: 30, EventsDays: 1}); err != nil {
		t.Fatal(err)
	}

	// Today nothing has expired.
	got, err := rt.PurgeExpired(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for kind, res := range got {
		if res.Rows != 0 {
			t.Errorf("%s: purged %+v of a day's work under a 30-day policy", kind, res)
		}
	}

	got, err = rt.PurgeExpired(ctx, time.Now().Add(31*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if c := got[engram.PurgeConversations]; c.Deleted != 1 || c.Rows < 6+3*2 {
		t.Errorf("conversations purged %+v, want the bare conversation with its 6 items and 3 runs", c)
	}
	if _, err := rt.Store.GetConversation(ctx, pid, conv); engram.ErrorCode(err) != engram.ENotFound {
		t.Errorf("the idle conversation: %v, want it gone", err)
	}
	for _, r := range bare {
		if _, err := rt.Store.GetResponse(ctx, pid, r.ID); engram.ErrorCode(err) != engram.ENotFound {
			t.Errorf("a response of the purged conversation: %v", err)
		}
	}
	if _, err := rt.Store.GetResponse(ctx, pid, kept.ID); err != nil {
		t.Errorf("the keeper's response: %v, want it kept", err)
	}
	if events, err := rt.Store.ListEvents(ctx, pid, kept.ID, -1); err != nil || len(events) == 0 {
		t.Errorf("the keeper's events: %d, %v; its agent keeps everything", len(events), err)
	}

	log, _, err := rt.Store.ListRetentionLog(ctx, pid, engram.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var rows int64
	for _, e := range log {
		if e.AgentID == keeper.ID {
			t.Errorf("the log shows a purge of the keeper's: %+v", e)
		}
		rows += e.Rows
	}
	if len(log) == 0 || rows != got[engram.PurgeConversations].Rows+got[engram.PurgeResponses].Rows+got[engram.PurgeEvents].Rows {
		t.Errorf("the log (%d entries, %d rows) does not match the pass %+v", len(log), rows, got)
	}
}

// TestRetentionAudited: each purge batch that deleted something is an
// entry of its project's audit log, counting what it deleted; a pass that
// deletes nothing records nothing.
func TestRetentionAudited(t *testing.T) {
	rt, _, pid := setupWith(t, func(rt *runtime.Runtime, s engram.Store) {
		rt.RetentionBatch = 4
		rt.Audit = engram.StoreAuditor{Store: s}
	})
	ctx := context.Background()
	conv := newConversation(t, rt, pid)
	for _, text := range []string{"one", "two", "three"} {
		if _, err := say(rt, pid, conv, "scripted/echo", text); err != nil {
			t.Fatal(err)
		}
	}
	if err := rt.Store.SetRetention(ctx, pid, engram.Retention{ConversationsDays: 30}); err != nil {
		t.Fatal(err)
	}
	audit := func() []*engram.AuditEntry {
		list, _, err := rt.Store.ListAudit(ctx, pid, engram.AuditFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return list
	}
	if _, err := rt.PurgeExpired(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if list := audit(); len(list) != 0 {
		t.Fatalf("a pass that purged nothing recorded %d entries", len(list))
	}
	got, err := rt.PurgeExpired(ctx, time.Now().Add(31*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	list := audit()
	if len(list) < 2 { // 4 rows a batch: the conversation's 12 rows take several
		t.Fatalf("%d audit entries for a purge of %+v", len(list), got)
	}
	var rows int64
	for _, e := range list {
		var d struct {
			Deleted, Rows int64
			Pass          string
		}
		if err := json.Unmarshal(e.Details, &d); err != nil {
			t.Fatal(err)
		}
		if e.Actor != "system:retention" || e.Action != "retention.purge" || e.Resource != engram.PurgeConversations || e.Outcome != engram.AuditSuccess ||
			d.Rows == 0 || d.Pass == "" {
			t.Errorf("entry %+v (details %s)", e, e.Details)
		}
		rows += d.Rows
	}
	if rows != got[engram.PurgeConversations].Rows {
		t.Errorf("the audit log counts %d rows, the pass deleted %d", rows, got[engram.PurgeConversations].Rows)
	}
	if err := engram.VerifyAudit(list, engram.AuditGenesis); err != nil {
		t.Error(err)
	}
}
