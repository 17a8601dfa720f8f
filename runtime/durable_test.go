package runtime_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/provider"
	"github.com/engram-run/engram/provider/scripted"
	"github.com/engram-run/engram/runtime"
	"github.com/engram-run/engram/tool"
)

// effectServer is an HTTP tool that counts its calls.
func effectServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "done %s key=%s", body, r.Header.Get("Idempotency-Key"))
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func newAgent(t *testing.T, rt *runtime.Runtime, pid string, tools ...engram.ToolSpec) {
	t.Helper()
	a := &engram.Agent{ID: engram.NewID("agent"), ProjectID: pid, Name: "worker", Model: "scripted/echo", Tools: tools}
	if err := rt.Store.CreateAgent(context.Background(), a); err != nil {
		t.Fatal(err)
	}
}

func ask(rt *runtime.Runtime, pid, conv, text string, mod func(*engram.ResponseRequest)) (*engram.Response, error) {
	req := &engram.ResponseRequest{Model: "agent/worker", Conversation: conv,
		Input: []*engram.Item{{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: text}}}}}
	if mod != nil {
		mod(req)
	}
	return rt.CreateResponse(context.Background(), pid, req, nil)
}

// waitFor polls a response until it reaches one of statuses.
func waitFor(t *testing.T, s engram.Store, pid, id string, statuses ...string) *engram.Response {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := s.GetResponse(context.Background(), pid, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range statuses {
			if r.Status == st {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("response %s is %s, want %v", id, r.Status, statuses)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func itemTypes(items []*engram.Item) string {
	var out []string
	for _, it := range items {
		out = append(out, it.Type)
	}
	return strings.Join(out, " ")
}

// TestApprovalAcrossRestart: a tool needing approval pauses the run; the
// process stops; a new one takes the answer and the run resumes from its
// journal, calling the tool once. A rejection reaches the model instead.
func TestApprovalAcrossRestart(t *testing.T) {
	rt, store, pid := setup(t)
	srv, calls := effectServer(t)
	newAgent(t, rt, pid, engram.ToolSpec{Type: engram.ToolHTTP, Name: "effect", URL: srv.URL, RequireApproval: "always"})
	conv := newConversation(t, rt, pid)
	for _, approve := range []bool{true, false} {
		r, err := ask(rt, pid, conv, `call effect {"x":1}`, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != engram.StatusRequiresAction || itemTypes(r.Output) != "function_call mcp_approval_request" {
			t.Fatalf("paused run: %s %s", r.Status, itemTypes(r.Output))
		}
		request := r.Output[1].ID

		rt.Stop() // the process goes away
		rt = runtime.New(store, provider.NewRegistry(scripted.New()), tool.Builtins(), nil)
		rt.PollInterval = 20 * time.Millisecond
		if err := rt.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(rt.Stop)

		before := calls.Load()
		if _, err := rt.Approve(context.Background(), pid, r.ID, engram.Approval{RequestID: request, Approve: approve, Comment: "checked"}); err != nil {
			t.Fatal(err)
		}
		_, err = rt.Approve(context.Background(), pid, r.ID, engram.Approval{RequestID: request, Approve: approve})
		if engram.ErrorCode(err) != engram.EConflict {
			t.Errorf("answering twice: %v, want a conflict", err)
		}
		done := waitFor(t, store, pid, r.ID, engram.StatusCompleted, engram.StatusFailed)
		if done.Status != engram.StatusCompleted || itemTypes(done.Output) != "function_call mcp_approval_request mcp_approval_response function_call_output message" {
			t.Fatalf("approve=%v: %s %s", approve, done.Status, itemTypes(done.Output))
		}
		answer := done.Output[4].Text()
		want, wantCalls := "tool said: done {\"x\":1} key="+r.ID+"/step-2", int64(1)
		if !approve {
			want, wantCalls = "tool said: The call was not made: a person rejected it. Reason: checked", 0
		}
		if answer != want || calls.Load()-before != wantCalls {
			t.Errorf("approve=%v: answer %q, %d calls; want %q, %d", approve, answer, calls.Load()-before, want, wantCalls)
		}
	}
}

// TestApprovalByInputItem: mcp_approval_response items sent with
// previous_response_id answer the paused run, which the call returns.
func TestApprovalByInputItem(t *testing.T) {
	rt, _, pid := setup(t)
	srv, calls := effectServer(t)
	newAgent(t, rt, pid, engram.ToolSpec{Type: engram.ToolHTTP, Name: "effect", URL: srv.URL, RequireApproval: "always"})
	r, err := ask(rt, pid, "", `call effect {}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	done, err := rt.CreateResponse(context.Background(), pid, &engram.ResponseRequest{PreviousResponseID: r.ID,
		Input: []*engram.Item{{Type: engram.ItemApprovalResponse, ApprovalRequestID: r.Output[1].ID, Approve: &yes}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if done.ID != r.ID || done.Status != engram.StatusCompleted || calls.Load() != 1 {
		t.Errorf("answered run: %s %s, %d calls", done.ID, done.Status, calls.Load())
	}
	_, err = rt.CreateResponse(context.Background(), pid, &engram.ResponseRequest{PreviousResponseID: r.ID,
		Input: []*engram.Item{{Type: engram.ItemApprovalResponse, ApprovalRequestID: r.Output[1].ID, Approve: &yes}}}, nil)
	if engram.ErrorCode(err) != engram.EConflict {
		t.Errorf("answering an answered request: %v", err)
	}
}

// TestCancelAndInterrupt: a run sleeping in wait_until is cancelled at
// once; a run on a busy conversation with the interrupt policy cancels the
// active one and runs; with reject it is refused.
func TestCancelAndInterrupt(t *testing.T) {
	rt, store, pid := setup(t)
	newAgent(t, rt, pid, engram.ToolSpec{Type: engram.ToolBuiltin, Name: "wait_until"})
	conv := newConversation(t, rt, pid)
	sleeper, err := ask(rt, pid, conv, `call wait_until {"seconds":3600}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sleeper.Status != engram.StatusInProgress || sleeper.WakeAt == 0 {
		t.Fatalf("sleeping run: %s wake %d", sleeper.Status, sleeper.WakeAt)
	}
	_, err = ask(rt, pid, conv, "hello", func(r *engram.ResponseRequest) { r.Concurrency = engram.ConcurrencyReject })
	if engram.ErrorCode(err) != engram.EConflict {
		t.Fatalf("reject policy on a busy conversation: %v", err)
	}
	cancelled, err := rt.Cancel(context.Background(), pid, sleeper.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cancelled.Status != engram.StatusCancelled {
		t.Fatalf("cancelled sleeper is %s", cancelled.Status)
	}

	second, err := ask(rt, pid, conv, `call wait_until {"seconds":3600}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	third, err := ask(rt, pid, conv, "now", func(r *engram.ResponseRequest) { r.Concurrency = engram.ConcurrencyInterrupt })
	if err != nil {
		t.Fatal(err)
	}
	if third.Status != engram.StatusCompleted || third.Output[0].Text() != "echo: now" {
		t.Errorf("interrupting run: %s %v", third.Status, third.Output)
	}
	if got := waitFor(t, store, pid, second.ID, engram.StatusCancelled); got.Status != engram.StatusCancelled {
		t.Errorf("interrupted run is %s", got.Status)
	}
	items, _, err := store.ListItems(context.Background(), pid, conv, engram.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	// Each cancelled sleeper left its input and its call (never answered,
	// so no model sees it); the interrupting turn came after both.
	if got := itemTypes(items); got != "message function_call message function_call message message" {
		t.Errorf("log: %s", got)
	}
}

// TestStreamResume: a client that reads a background run's stream, drops
// it, and resumes with starting_after gets exactly the rest, numbered on.
func TestStreamResume(t *testing.T) {
	rt, store, pid := setup(t)
	srv, _ := effectServer(t)
	newAgent(t, rt, pid, engram.ToolSpec{Type: engram.ToolHTTP, Name: "effect", URL: srv.URL})
	r, err := ask(rt, pid, "", `call effect {"y":2}`, func(r *engram.ResponseRequest) { r.Background = true })
	if err != nil {
		t.Fatal(err)
	}
	var all []engram.StoredEvent
	if err := rt.Stream(context.Background(), pid, r.ID, -1, func(ev engram.StoredEvent) error { all = append(all, ev); return nil }); err != nil {
		t.Fatal(err)
	}
	for i, ev := range all {
		if ev.Seq != int64(i) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
	}
	if all[0].Type != engram.EventResponseCreated || all[len(all)-1].Type != engram.EventResponseCompleted {
		t.Fatalf("stream from %s to %s", all[0].Type, all[len(all)-1].Type)
	}
	cut := int64(len(all) / 2)
	var rest []engram.StoredEvent
	if err := rt.Stream(context.Background(), pid, r.ID, cut, func(ev engram.StoredEvent) error { rest = append(rest, ev); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(rest) != len(all)-int(cut)-1 || rest[0].Seq != cut+1 || string(rest[0].Data) != string(all[cut+1].Data) {
		t.Errorf("resumed after %d: %d events from %d, want %d", cut, len(rest), rest[0].Seq, len(all)-int(cut)-1)
	}
	steps, err := store.ListSteps(context.Background(), pid, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 3 || steps[1].Kind != engram.StepTool || steps[1].IdempotencyKey != r.ID+"/step-2" || steps[2].Status != engram.StepCompleted {
		t.Errorf("journal: %d steps: %+v %+v %+v", len(steps), steps[0], steps[1], steps[2])
	}
}

// TestLimits: a run over its step or tool-call limit ends incomplete.
func TestLimits(t *testing.T) {
	rt, _, pid := setup(t)
	srv, calls := effectServer(t)
	newAgent(t, rt, pid, engram.ToolSpec{Type: engram.ToolHTTP, Name: "effect", URL: srv.URL})
	for _, tt := range []struct {
		limits engram.RunLimits
		reason string
	}{
		{engram.RunLimits{MaxSteps: 1}, "max_steps"},
		{engram.RunLimits{MaxToolCalls: 1, MaxSteps: 100}, ""},
		{engram.RunLimits{MaxTotalTokens: 1}, "max_total_tokens"},
	} {
		r, err := ask(rt, pid, "", `call effect {}`, func(r *engram.ResponseRequest) { r.Limits = tt.limits })
		if err != nil {
			t.Fatal(err)
		}
		want := engram.StatusIncomplete
		if tt.reason == "" {
			want = engram.StatusCompleted
		}
		if r.Status != want || r.IncompleteReason != tt.reason {
			t.Errorf("limits %+v: %s %q, want %s %q", tt.limits, r.Status, r.IncompleteReason, want, tt.reason)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("%d tool calls, want 1 (only the run within its limits)", calls.Load())
	}
}
