package storetest

import (
	"testing"

	"github.com/engram-run/engram"
)

// testExtractions: turns make an extraction due per the policy; one worker
// at a time holds a pass; its outcome is stored under its lease only.
func testExtractions(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	c := newConversation(t, s, pid, false, msgs("a", "b")...)
	const t0 = int64(1_000_000) // seconds
	ms := func(sec int64) int64 { return sec * 1000 }
	every2 := engram.ExtractionPolicy{EveryTurns: 2}
	e := &engram.Extraction{ConversationID: c.ID, ProjectID: pid, AgentID: "agent_a", User: "ada", LastSeq: 2}

	must(t, s.NoteTurn(ctx, e, every2, t0))
	_, err := s.ClaimExtraction(ctx, engram.Lease{Owner: "n/1", Until: ms(t0 + 60)}, ms(t0+3600))
	wantCode(t, err, engram.ENotFound) // one turn of two: not due however long it waits
	got, err := s.GetExtraction(ctx, pid, c.ID)
	must(t, err)
	if got.Status != engram.ExtractionPending || got.PendingTurns != 1 || got.User != "ada" || got.AgentID != "agent_a" {
		t.Errorf("after one turn: %+v", got)
	}
	_, err = s.GetExtraction(ctx, newProject(t, s), c.ID)
	wantCode(t, err, engram.ENotFound)

	e.LastSeq = 4
	must(t, s.NoteTurn(ctx, e, every2, t0+10))
	a := engram.Lease{Owner: "n/1", Until: ms(t0 + 70)}
	claimed, err := s.ClaimExtraction(ctx, a, ms(t0+10))
	must(t, err)
	if claimed.ConversationID != c.ID || claimed.Status != engram.ExtractionRunning || claimed.LastSeq != 4 || claimed.ThroughSeq != 0 {
		t.Fatalf("claimed %+v", claimed)
	}
	_, err = s.ClaimExtraction(ctx, engram.Lease{Owner: "n/2", Until: ms(t0 + 80)}, ms(t0+20))
	wantCode(t, err, engram.ENotFound) // held

	// A worker whose lease passed cannot store its outcome.
	b := engram.Lease{Owner: "n/2", Until: ms(t0 + 200)}
	stolen, err := s.ClaimExtraction(ctx, b, ms(t0+100))
	must(t, err)
	claimed.Status, claimed.ThroughSeq = engram.ExtractionIdle, 4
	wantCode(t, s.FinishExtraction(ctx, claimed, nil), engram.EConflict)

	stolen.Status, stolen.ThroughSeq, stolen.Records, stolen.Passes = engram.ExtractionIdle, 4, 3, 1
	must(t, s.FinishExtraction(ctx, stolen, nil))
	got, err = s.GetExtraction(ctx, pid, c.ID)
	must(t, err)
	if got.Status != engram.ExtractionIdle || got.ThroughSeq != 4 || got.Records != 3 || got.PendingTurns != 0 || got.Passes != 1 {
		t.Errorf("after the pass: %+v", got)
	}

	// Idle policy: due a while after the last turn; a failed pass is
	// retried when its outcome says.
	idle := engram.ExtractionPolicy{IdleSeconds: 300}
	e.LastSeq = 6
	must(t, s.NoteTurn(ctx, e, idle, t0+1000))
	_, err = s.ClaimExtraction(ctx, engram.Lease{Owner: "n/1", Until: ms(t0 + 2000)}, ms(t0+1200))
	wantCode(t, err, engram.ENotFound)
	claimed, err = s.ClaimExtraction(ctx, engram.Lease{Owner: "n/1", Until: ms(t0 + 2000)}, ms(t0+1300))
	must(t, err)
	claimed.Status, claimed.Failures, claimed.LastError, claimed.DueAt = engram.ExtractionFailed, 1, "upstream down", t0+1500
	must(t, s.FinishExtraction(ctx, claimed, nil))
	_, err = s.ClaimExtraction(ctx, engram.Lease{Owner: "n/1", Until: ms(t0 + 2000)}, ms(t0+1400))
	wantCode(t, err, engram.ENotFound)
	retried, err := s.ClaimExtraction(ctx, engram.Lease{Owner: "n/1", Until: ms(t0 + 2000)}, ms(t0+1500))
	must(t, err)
	if retried.Failures != 1 || retried.LastError != "upstream down" || retried.ThroughSeq != 4 {
		t.Errorf("retried %+v", retried)
	}
	// Turns noted while a pass runs leave the extraction pending after it.
	e.LastSeq = 8
	must(t, s.NoteTurn(ctx, e, idle, t0+1600))
	retried.Status, retried.ThroughSeq = engram.ExtractionIdle, 6
	usage := []*engram.UsageRecord{{ID: engram.NewID("usage"), ProjectID: pid, ConversationID: c.ID, AgentID: "agent_a", User: "ada",
		Provider: "scripted", Model: "echo", Usage: engram.Usage{InputTokens: 70, OutputTokens: 7, StatelessInputTokens: 70}, CreatedAt: t0}}
	must(t, s.FinishExtraction(ctx, retried, usage))
	totals, err := s.UsageTotals(ctx, pid, engram.UsageFilter{GroupBy: "conversation"})
	must(t, err)
	if len(totals) != 1 || totals[0].InputTokens != 70 || totals[0].Responses != 0 || totals[0].ModelCalls != 1 {
		t.Errorf("a pass's usage in the totals: %+v", totals)
	}
	got, _ = s.GetExtraction(ctx, pid, c.ID)
	if got.Status != engram.ExtractionPending || got.ThroughSeq != 6 || got.LastSeq != 8 || got.DueAt != t0+1900 {
		t.Errorf("after a pass overtaken by a turn: %+v", got)
	}
}
