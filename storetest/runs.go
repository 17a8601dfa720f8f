package storetest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/engram-run/engram"
)

// farFuture is a lease that does not expire during a test.
const farFuture = int64(1) << 60

func now() int64 { return time.Now().UnixMilli() }

// startRun creates a running response on a fresh conversation under lease.
func startRun(t *testing.T, s engram.Store, pid string, lease engram.Lease, input ...string) (*engram.Conversation, *engram.Response) {
	t.Helper()
	c := newConversation(t, s, pid, false)
	r := newResponse(pid, c.ID, 0)
	r.Lease = lease
	must(t, s.CreateResponse(ctx, r, msgs(input...)))
	if r.Status != engram.StatusInProgress {
		t.Fatalf("a response on a free conversation is %s", r.Status)
	}
	return c, r
}

// testConcurrencyPolicies: reject refuses and stores nothing; interrupt
// cancels what is queued and asks what runs to stop.
func testConcurrencyPolicies(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	lease := engram.Lease{Owner: "a", Until: farFuture}
	c, running := startRun(t, s, pid, lease, "first")
	queued := newResponse(pid, c.ID, 0)
	must(t, s.CreateResponse(ctx, queued, msgs("second")))

	rejected := newResponse(pid, c.ID, 0)
	rejected.Concurrency, rejected.Conversation = engram.ConcurrencyReject, c.ID
	err := s.CreateResponse(ctx, rejected, msgs("refused"))
	wantCode(t, err, engram.EConflict)
	if msg := engram.ErrorMessage(err); !strings.Contains(msg, running.ID) {
		t.Errorf("the refusal does not name the active response: %s", msg)
	}
	_, err = s.GetResponse(ctx, pid, rejected.ID)
	wantCode(t, err, engram.ENotFound)

	interrupting := newResponse(pid, c.ID, 0)
	interrupting.Concurrency = engram.ConcurrencyInterrupt
	must(t, s.CreateResponse(ctx, interrupting, msgs("now")))
	if interrupting.Status != engram.StatusQueued {
		t.Errorf("the interrupting response is %s, want queued until the running one stops", interrupting.Status)
	}
	got, err := s.GetResponse(ctx, pid, queued.ID)
	must(t, err)
	if got.Status != engram.StatusCancelled {
		t.Errorf("the queued response is %s after an interrupt, want cancelled", got.Status)
	}
	cancel, err := s.RenewLease(ctx, running.ID, lease)
	must(t, err)
	if !cancel {
		t.Error("the running response was not asked to cancel")
	}
	running.Status = engram.StatusCancelled
	must(t, s.FinishResponse(ctx, running, engram.RunEnd{Lease: lease}))
	next, err := s.ClaimRun(ctx, engram.Lease{Owner: "b", Until: farFuture}, now(), "")
	must(t, err)
	if next.ID != interrupting.ID {
		t.Errorf("claimed %s, want the interrupting response", next.ID)
	}
	log, _, err := s.ListItems(ctx, pid, c.ID, engram.Page{Limit: 10})
	must(t, err)
	if got := fmt.Sprint(texts(log)); got != "[first now]" {
		t.Errorf("log %s: a cancelled queued run's input must never reach it", got)
	}
}

// testLeases: a held lease keeps other workers out until it expires; then
// the run passes to another worker and the first one's writes are refused.
func testLeases(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	a := engram.Lease{Owner: "node-a:1", Until: now() + 60_000}
	_, r := startRun(t, s, pid, a, "q")
	b := engram.Lease{Owner: "node-b:1", Until: farFuture}
	_, err := s.ClaimRun(ctx, b, now(), "")
	wantCode(t, err, engram.ENotFound)
	// Time passes beyond a's lease.
	claimed, err := s.ClaimRun(ctx, b, a.Until+1, "")
	must(t, err)
	if claimed.ID != r.ID || claimed.Lease != b {
		t.Fatalf("claimed %s under %+v", claimed.ID, claimed.Lease)
	}
	step := &engram.Step{ResponseID: r.ID, ProjectID: pid, N: 1, Kind: engram.StepModel, Status: engram.StepStarted, StartedAt: engram.Now()}
	wantCode(t, s.SaveStep(ctx, step, a, nil), engram.EConflict)
	_, err = s.RenewLease(ctx, r.ID, a)
	wantCode(t, err, engram.EConflict)
	r.Status = engram.StatusCompleted
	wantCode(t, s.FinishResponse(ctx, r, engram.RunEnd{Lease: a}), engram.EConflict)
	must(t, s.SaveStep(ctx, step, b, nil))
	must(t, s.FinishResponse(ctx, r, engram.RunEnd{Lease: b}))
	wantCode(t, s.FinishResponse(ctx, r, engram.RunEnd{Lease: b}), engram.EConflict)

	// A restarted node gives its leases up at once, whatever nonce its
	// claims carried, and only its own: "node-c" is not "node-cd".
	_, r2 := startRun(t, s, pid, engram.Lease{Owner: "node-c/1a2b", Until: farFuture}, "q2")
	_, err = s.ClaimRun(ctx, b, now(), r2.ID)
	wantCode(t, err, engram.ENotFound)
	must(t, s.ReleaseLeases(ctx, "node-cd"))
	must(t, s.ReleaseLeases(ctx, "node-"))
	_, err = s.ClaimRun(ctx, b, now(), r2.ID)
	wantCode(t, err, engram.ENotFound)
	must(t, s.ReleaseLeases(ctx, "node-c"))
	claimed, err = s.ClaimRun(ctx, b, now(), r2.ID)
	must(t, err)
	if claimed.ID != r2.ID {
		t.Errorf("claimed %s, want %s", claimed.ID, r2.ID)
	}
}

// testStepsAndEvents: the journal keeps steps in order, a running
// response shows its steps' output, and events come back after a seq.
func testStepsAndEvents(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	lease := engram.Lease{Owner: "w", Until: farFuture}
	_, r := startRun(t, s, pid, lease, "q")
	ev := func(seq int64) engram.StoredEvent {
		return engram.StoredEvent{Seq: seq, Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, seq))}
	}
	model := &engram.Step{ResponseID: r.ID, ProjectID: pid, N: 1, Kind: engram.StepModel, Status: engram.StepStarted, StartedAt: engram.Now()}
	must(t, s.SaveStep(ctx, model, lease, []engram.StoredEvent{ev(0), ev(1)}))
	call := msg("assistant", "calling")
	call.Type, call.CallID, call.Name, call.Content = engram.ItemFunctionCall, "call_1", "effect", nil
	model.Status, model.Output, model.Usage = engram.StepCompleted, []*engram.Item{call}, &engram.Usage{InputTokens: 3}
	must(t, s.SaveStep(ctx, model, lease, []engram.StoredEvent{ev(2), ev(3), ev(4)}))
	tool := &engram.Step{ResponseID: r.ID, ProjectID: pid, N: 2, Kind: engram.StepTool, Status: engram.StepStarted,
		Name: "effect", CallID: "call_1", IdempotencyKey: r.ID + "/2", StartedAt: engram.Now()}
	must(t, s.SaveStep(ctx, tool, lease, nil))

	steps, err := s.ListSteps(ctx, pid, r.ID)
	must(t, err)
	if len(steps) != 2 || steps[0].Status != engram.StepCompleted || steps[0].Usage == nil || steps[0].Usage.InputTokens != 3 ||
		len(steps[0].Output) != 1 || steps[0].Output[0].CallID != "call_1" || steps[1].IdempotencyKey != r.ID+"/2" || steps[1].ProjectID != pid {
		t.Fatalf("journal: %+v", steps)
	}
	got, err := s.GetResponse(ctx, pid, r.ID)
	must(t, err)
	if len(got.Output) != 1 || got.Output[0].CallID != "call_1" {
		t.Errorf("a running response shows %v, want its steps' output", texts(got.Output))
	}
	events, err := s.ListEvents(ctx, pid, r.ID, 1)
	must(t, err)
	var seqs []int64
	for _, e := range events {
		seqs = append(seqs, e.Seq)
	}
	if fmt.Sprint(seqs) != "[2 3 4]" || string(events[0].Data) != `{"n":2}` {
		t.Errorf("events after 1: %v", seqs)
	}
	events, err = s.ListEvents(ctx, pid, r.ID, 3)
	must(t, err)
	if len(events) != 1 || events[0].Seq != 4 {
		t.Errorf("events after 3 (inside a batch): %v", events)
	}

	other := newProject(t, s)
	_, err = s.ListSteps(ctx, other, r.ID)
	wantCode(t, err, engram.ENotFound)
	_, err = s.ListEvents(ctx, other, r.ID, 0)
	wantCode(t, err, engram.ENotFound)
	_, err = s.RequestCancel(ctx, other, r.ID)
	wantCode(t, err, engram.ENotFound)
	_, err = s.DecideApproval(ctx, other, r.ID, engram.Approval{RequestID: "mcpr_x", Approve: true})
	wantCode(t, err, engram.ENotFound)
	// A running response cannot be deleted from under its worker.
	wantCode(t, s.DeleteResponse(ctx, pid, r.ID), engram.EConflict)
}

// testPauseAndResume: a sleeping run wakes at its time; a run waiting for
// a person resumes once every request is answered, each answered once.
func testPauseAndResume(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	lease := engram.Lease{Owner: "w", Until: farFuture}
	_, r := startRun(t, s, pid, lease, "sleep")
	r.WakeAt = engram.Now() + 3600
	must(t, s.PauseRun(ctx, r, lease, nil))
	_, err := s.ClaimRun(ctx, lease, now(), r.ID)
	wantCode(t, err, engram.ENotFound)
	woken, err := s.ClaimRun(ctx, lease, (r.WakeAt+1)*1000, r.ID)
	must(t, err)
	if woken.ID != r.ID {
		t.Fatalf("claimed %s", woken.ID)
	}

	_, r = startRun(t, s, pid, lease, "approve")
	for n, id := range []string{"mcpr_1", "mcpr_2"} {
		must(t, s.SaveStep(ctx, &engram.Step{ResponseID: r.ID, ProjectID: pid, N: n + 1, Kind: engram.StepTool, Status: engram.StepAwaitingApproval,
			Approval: &engram.Approval{RequestID: id, Reason: "required"}, StartedAt: engram.Now()}, lease, nil))
	}
	r.Status = engram.StatusRequiresAction
	must(t, s.PauseRun(ctx, r, lease, nil))
	got, err := s.GetResponse(ctx, pid, r.ID)
	must(t, err)
	if got.Status != engram.StatusRequiresAction || got.Lease.Owner != "" {
		t.Fatalf("paused: %s %+v", got.Status, got.Lease)
	}
	_, err = s.ClaimRun(ctx, lease, farFuture-1, r.ID)
	wantCode(t, err, engram.ENotFound)
	_, err = s.DecideApproval(ctx, pid, r.ID, engram.Approval{RequestID: "mcpr_missing", Approve: true})
	wantCode(t, err, engram.ENotFound)
	after, err := s.DecideApproval(ctx, pid, r.ID, engram.Approval{RequestID: "mcpr_1", Approve: true, Decider: "ada"})
	must(t, err)
	if after.Status != engram.StatusRequiresAction {
		t.Errorf("with one request still open the run is %s", after.Status)
	}
	_, err = s.DecideApproval(ctx, pid, r.ID, engram.Approval{RequestID: "mcpr_1", Approve: false})
	wantCode(t, err, engram.EConflict)
	after, err = s.DecideApproval(ctx, pid, r.ID, engram.Approval{RequestID: "mcpr_2", Approve: false, Comment: "no"})
	must(t, err)
	if after.Status != engram.StatusInProgress {
		t.Errorf("with every request answered the run is %s", after.Status)
	}
	steps, err := s.ListSteps(ctx, pid, r.ID)
	must(t, err)
	if a := steps[0].Approval; !a.Decided || !a.Approve || a.Decider != "ada" || a.Reason != "required" {
		t.Errorf("first decision: %+v", a)
	}
	if a := steps[1].Approval; !a.Decided || a.Approve || a.Comment != "no" {
		t.Errorf("second decision: %+v", a)
	}
	resumed, err := s.ClaimRun(ctx, lease, now(), "")
	must(t, err)
	if resumed.ID != r.ID {
		t.Errorf("claimed %s after the answers, want %s", resumed.ID, r.ID)
	}
}

// testCancel: a queued run ends at once, a running one is asked, a paused
// one is handed to a worker to end, an ended one is left alone.
func testCancel(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	lease := engram.Lease{Owner: "w", Until: farFuture}
	c, running := startRun(t, s, pid, lease, "first")
	queued := newResponse(pid, c.ID, 0)
	must(t, s.CreateResponse(ctx, queued, msgs("second")))
	got, err := s.RequestCancel(ctx, pid, queued.ID)
	must(t, err)
	if got.Status != engram.StatusCancelled {
		t.Errorf("a cancelled queued run is %s", got.Status)
	}
	got, err = s.RequestCancel(ctx, pid, running.ID)
	must(t, err)
	if got.Status != engram.StatusInProgress || !got.CancelRequested {
		t.Errorf("a cancelled running run: %s, asked %v", got.Status, got.CancelRequested)
	}
	if cancel, err := s.RenewLease(ctx, running.ID, lease); err != nil || !cancel {
		t.Errorf("the worker was not told: %v %v", cancel, err)
	}

	_, paused := startRun(t, s, pid, lease, "paused")
	paused.Status = engram.StatusRequiresAction
	must(t, s.PauseRun(ctx, paused, lease, nil))
	_, err = s.RequestCancel(ctx, pid, paused.ID)
	must(t, err)
	claimed, err := s.ClaimRun(ctx, lease, now(), paused.ID)
	must(t, err)
	if !claimed.CancelRequested {
		t.Error("the claimed paused run does not carry the cancel")
	}
	claimed.Status = engram.StatusCancelled
	must(t, s.FinishResponse(ctx, claimed, engram.RunEnd{Lease: lease}))
	got, err = s.RequestCancel(ctx, pid, paused.ID)
	must(t, err)
	if got.Status != engram.StatusCancelled {
		t.Errorf("cancelling an ended run changed it to %s", got.Status)
	}
	log, _, err := s.ListItems(ctx, pid, c.ID, engram.Page{Limit: 10})
	must(t, err)
	if got := fmt.Sprint(texts(log)); got != "[first]" {
		t.Errorf("log %s", got)
	}
}

// testListResponses: a project's responses, newest first, by status, and
// never another project's.
func testListResponses(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	lease := engram.Lease{Owner: "w", Until: farFuture}
	c, running := startRun(t, s, pid, lease, "a")
	queued := newResponse(pid, c.ID, 0)
	must(t, s.CreateResponse(ctx, queued, msgs("b")))
	_, other := startRun(t, s, newProject(t, s), lease, "theirs")
	list, more, err := s.ListResponses(ctx, pid, engram.ResponseFilter{Page: engram.Page{Limit: 10, Order: "desc"}})
	must(t, err)
	if more || len(list) != 2 || list[0].ID != queued.ID || list[1].ID != running.ID {
		t.Errorf("list: %d responses, more %v", len(list), more)
	}
	list, _, err = s.ListResponses(ctx, pid, engram.ResponseFilter{Status: engram.StatusQueued, Page: engram.Page{Limit: 10}})
	must(t, err)
	if len(list) != 1 || list[0].ID != queued.ID || list[0].Status != engram.StatusQueued {
		t.Errorf("queued only: %v", list)
	}
	for _, r := range list {
		if r.ID == other.ID {
			t.Error("another project's response listed")
		}
	}
}
