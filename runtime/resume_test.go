package runtime

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/provider"
	"github.com/engram-run/engram/provider/scripted"
	"github.com/engram-run/engram/sqlite"
	"github.com/engram-run/engram/tool"
)

// crashedRun stores a run whose worker died with a journal of n steps:
// n-1 completed (model calls asking for a tool, and the tool's outputs)
// and a last model call in flight.
func crashedRun(tb testing.TB, rt *Runtime, pid, convID string, n int) string {
	ctx := context.Background()
	lease := engram.Lease{Owner: "dead-node/1", Until: 1} // long expired
	r := &engram.Response{ID: engram.NewID("resp"), ProjectID: pid, ConversationID: convID, Conversation: convID,
		Model: "scripted/echo", Status: engram.StatusInProgress, Metadata: map[string]string{}, Lease: lease,
		Tools: []engram.ToolSpec{{Type: engram.ToolHTTP, Name: "effect", URL: "http://127.0.0.1:9/unused"}}}
	input := []*engram.Item{{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: "start"}}, Tokens: 2}}
	if err := rt.Store.CreateResponse(ctx, r, input); err != nil {
		tb.Fatal(err)
	}
	for i := 1; i < n; i++ {
		s := &engram.Step{ResponseID: r.ID, ProjectID: pid, N: i, Status: engram.StepCompleted, StartedAt: engram.Now(), CompletedAt: engram.Now()}
		callID := fmt.Sprintf("call_%d", (i+1)/2)
		if i%2 == 1 {
			s.Kind, s.StopReason, s.Usage = engram.StepModel, engram.StopToolCalls, &engram.Usage{InputTokens: 10, OutputTokens: 5, TotalTokens: 15}
			s.Output = []*engram.Item{{ID: engram.NewID("fc"), Type: engram.ItemFunctionCall, CallID: callID, Name: "effect", Arguments: `{"i":1}`, Status: engram.StatusCompleted}}
		} else {
			s.Kind, s.Name, s.CallID, s.IdempotencyKey = engram.StepTool, "effect", callID, idempotencyKey(r.ID, i)
			s.Output = []*engram.Item{{ID: engram.NewID("fco"), Type: engram.ItemFunctionCallOutput, CallID: callID, Output: "ok", Status: engram.StatusCompleted}}
		}
		s.EventSeq = int64(i * 4)
		if err := rt.Store.SaveStep(ctx, s, lease, nil); err != nil {
			tb.Fatal(err)
		}
	}
	last := &engram.Step{ResponseID: r.ID, ProjectID: pid, N: n, Kind: engram.StepModel, Status: engram.StepStarted, StartedAt: engram.Now()}
	if err := rt.Store.SaveStep(ctx, last, lease, nil); err != nil {
		tb.Fatal(err)
	}
	return r.ID
}

func resumeSetup(tb testing.TB) (*Runtime, string, string) {
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "engram.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	p := &engram.Project{ID: engram.NewID("proj"), Name: "p", CreatedAt: engram.Now()}
	if err := db.CreateProject(context.Background(), p); err != nil {
		tb.Fatal(err)
	}
	c := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: p.ID}
	if err := db.CreateConversation(context.Background(), c, nil); err != nil {
		tb.Fatal(err)
	}
	rt := New(db, provider.NewRegistry(scripted.New()), tool.Builtins(), nil)
	rt.MaxSteps, rt.MaxModelCalls, rt.MaxToolCalls = 10_000, 10_000, 10_000
	return rt, p.ID, c.ID
}

// rebuild is what a worker does with a claimed run before its next model
// call: claim it, rebuild the plan, read and replay the journal.
func (rt *Runtime) rebuild(ctx context.Context, id string) (*run, error) {
	lease := rt.newLease()
	r, err := rt.Store.ClaimRun(ctx, lease, time.Now().UnixMilli(), id)
	if err != nil {
		return nil, err
	}
	p, err := rt.planFor(ctx, r)
	if err != nil {
		return nil, err
	}
	steps, err := rt.Store.ListSteps(ctx, r.ProjectID, r.ID)
	if err != nil {
		return nil, err
	}
	return rt.newRun(p, r, lease, nil, steps, nil), nil
}

// TestResumeLongJournal: a run killed with a 1,000-step journal resumes
// where it stopped: completed steps are replayed, not repeated, and the
// model call in flight is made again.
func TestResumeLongJournal(t *testing.T) {
	rt, pid, conv := resumeSetup(t)
	id := crashedRun(t, rt, pid, conv, 1000)
	x, err := rt.rebuild(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(x.r.Output) != 999 || x.models != 500 || x.toolRun != 499 || x.seq != 3996 || x.r.Usage.TotalTokens != 500*15 {
		t.Fatalf("replayed %d items, %d model calls, %d tool calls, next event %d, %d tokens", len(x.r.Output), x.models, x.toolRun, x.seq, x.r.Usage.TotalTokens)
	}
	r, err := rt.execute(x, false)
	if err != nil {
		t.Fatal(err)
	}
	// The one model call made answers the last tool output; nothing else
	// ran (the tool's URL would refuse).
	if r.Status != engram.StatusCompleted || len(r.Output) != 1000 || r.Output[999].Text() != "tool said: ok" {
		t.Fatalf("resumed run: %s, %d items, last %q", r.Status, len(r.Output), r.Output[len(r.Output)-1].Text())
	}
}

// BenchmarkResume measures our own code's cost of resuming a run killed
// with a 1,000-step journal: claim, plan, journal replay.
func BenchmarkResume(b *testing.B) {
	rt, pid, _ := resumeSetup(b)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		c := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid}
		if err := rt.Store.CreateConversation(ctx, c, nil); err != nil {
			b.Fatal(err)
		}
		id := crashedRun(b, rt, pid, c.ID, 1000)
		b.StartTimer()
		if _, err := rt.rebuild(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}
