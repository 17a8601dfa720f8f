package runtime

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/provider"
	"github.com/engram-run/engram/provider/scripted"
	"github.com/engram-run/engram/sqlite"
	"github.com/engram-run/engram/tool"
)

// firingStore is the real store, keeping the responses created.
type firingStore struct {
	engram.Store
	mu      sync.Mutex
	created []*engram.Response
}

func (f *firingStore) CreateRun(ctx context.Context, r *engram.Response, input []*engram.Item, first *engram.Step) error {
	err := f.Store.CreateRun(ctx, r, input, first)
	if err == nil {
		f.mu.Lock()
		f.created = append(f.created, r)
		f.mu.Unlock()
	}
	return err
}

func (f *firingStore) responses() []*engram.Response {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.created)
}

// scheduleEnv is a started runtime with an agent. The schedules it makes
// fire days from now, so the runtime's own scheduler, on the real clock,
// leaves them to the test's fireDue calls.
func scheduleEnv(t *testing.T) (*Runtime, *firingStore, string, *engram.Agent, time.Time) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "engram.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p := &engram.Project{ID: engram.NewID("proj"), Name: "p", CreatedAt: engram.Now()}
	if err := db.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	a := &engram.Agent{ID: engram.NewID("agent"), ProjectID: p.ID, Name: "keeper", Model: "scripted/echo"}
	if err := db.CreateAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	store := &firingStore{Store: db}
	rt := New(store, provider.NewRegistry(scripted.New()), tool.Builtins(), nil)
	rt.PollInterval = 20 * time.Millisecond
	rt.Audit = engram.StoreAuditor{Store: db}
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Stop)
	t0 := time.Now().Add(10 * 24 * time.Hour).Truncate(time.Minute)
	return rt, store, p.ID, a, t0
}

func newSchedule(t *testing.T, rt *Runtime, pid, catchUp string, after time.Time) *engram.Schedule {
	s := &engram.Schedule{ID: engram.NewID("sched"), ProjectID: pid, Agent: "keeper", Cron: "* * * * *", Input: "Check the hives.", CatchUp: catchUp}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	s.NextFireAt = s.NextFireAfter(after)
	if err := rt.Store.CreateSchedule(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return s
}

func getSchedule(t *testing.T, rt *Runtime, s *engram.Schedule) *engram.Schedule {
	got, err := rt.Store.GetSchedule(context.Background(), s.ProjectID, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestScheduleFiresOnce: two schedulers polling the same store at the same
// moment fire each due time once, and the fire is a background response of
// the schedule's agent, in a new conversation, recorded on the schedule.
func TestScheduleFiresOnce(t *testing.T) {
	rt, store, pid, agent, t0 := scheduleEnv(t)
	s := newSchedule(t, rt, pid, engram.CatchUpSkip, t0)
	if s.NextFireAt != t0.Add(time.Minute).Unix() {
		t.Fatalf("next fire %v, want %v", time.Unix(s.NextFireAt, 0), t0.Add(time.Minute))
	}
	ctx := context.Background()
	for minute := 1; minute <= 3; minute++ {
		now := t0.Add(time.Duration(minute)*time.Minute + 2*time.Second) // polls find fires a little late
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() { rt.fireDue(ctx, now) })
		}
		wg.Wait()
		rt.fireDue(ctx, now) // and a later poll in the same minute finds nothing due
		if n := len(store.responses()); n != minute {
			t.Fatalf("after %d due times: %d responses", minute, n)
		}
		got := getSchedule(t, rt, s)
		last := store.responses()[minute-1]
		if got.LastFireAt != now.Unix() || got.LastResponseID != last.ID || got.NextFireAt != t0.Add(time.Duration(minute+1)*time.Minute).Unix() {
			t.Errorf("minute %d: last fire %d, response %q, next %v", minute, got.LastFireAt, got.LastResponseID, time.Unix(got.NextFireAt, 0))
		}
	}

	convs := map[string]bool{}
	for _, r := range store.responses() {
		if !r.Background || r.AgentID != agent.ID || r.Metadata["schedule_id"] != s.ID {
			t.Errorf("response %s: background %v, agent %q, metadata %v", r.ID, r.Background, r.AgentID, r.Metadata)
		}
		convs[r.ConversationID] = true
		waitEnded(t, rt, pid, r.ID)
	}
	if len(convs) != 3 {
		t.Errorf("3 fires ran in %d conversations, want a new one each", len(convs))
	}
	// Each fire is in the audit log, once, with the response it started.
	fires := auditOf(t, rt, pid, "schedule.fire")
	if len(fires) != 3 || fires[0].Resource != s.ID || fires[0].Outcome != engram.AuditSuccess || !strings.Contains(string(fires[0].Details), store.responses()[0].ID) {
		t.Errorf("audit of 3 fires: %+v", fires)
	}
}

func auditOf(t *testing.T, rt *Runtime, pid, action string) []*engram.AuditEntry {
	t.Helper()
	entries, _, err := rt.Store.ListAudit(context.Background(), pid, engram.AuditFilter{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

func waitEnded(t *testing.T, rt *Runtime, pid, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := rt.Store.GetResponse(context.Background(), pid, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == engram.StatusCompleted {
			return
		}
		if engram.IsTerminal(r.Status) || time.Now().After(deadline) {
			t.Fatalf("response %s is %s", id, r.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestScheduleCatchUp: after an hour down, "skip" fires once for the sixty
// fires missed and goes on from now; "none" drops them and waits for the
// next one. Either fires on time when found within the grace.
func TestScheduleCatchUp(t *testing.T) {
	rt, store, pid, _, t0 := scheduleEnv(t)
	ctx := context.Background()
	skip := newSchedule(t, rt, pid, engram.CatchUpSkip, t0)
	none := newSchedule(t, rt, pid, engram.CatchUpNone, t0)

	onTime := t0.Add(time.Minute + 5*time.Second)
	rt.fireDue(ctx, onTime)
	if n := len(store.responses()); n != 2 {
		t.Fatalf("on time: %d responses, want one per schedule", n)
	}

	back := t0.Add(time.Hour + 2*time.Minute + 30*time.Second) // down since just after the fire
	rt.fireDue(ctx, back)
	rt.fireDue(ctx, back.Add(time.Second))
	rs := store.responses()
	if len(rs) != 3 || rs[2].Metadata["schedule_id"] != skip.ID {
		t.Fatalf("after an hour down: %d responses, want one more, of the skip schedule", len(rs))
	}
	nextMinute := back.Truncate(time.Minute).Add(time.Minute).Unix()
	if got := getSchedule(t, rt, skip); got.LastFireAt != back.Unix() || got.NextFireAt != nextMinute {
		t.Errorf("skip: last fire %v, next %v", time.Unix(got.LastFireAt, 0), time.Unix(got.NextFireAt, 0))
	}
	if got := getSchedule(t, rt, none); got.LastFireAt != onTime.Unix() || got.NextFireAt != nextMinute {
		t.Errorf("none: last fire %v, next %v", time.Unix(got.LastFireAt, 0), time.Unix(got.NextFireAt, 0))
	}

	// Both are back on time.
	rt.fireDue(ctx, time.Unix(nextMinute+1, 0))
	if n := len(store.responses()); n != 5 {
		t.Errorf("the next minute: %d responses, want 5", n)
	}
}

// TestScheduleFailedFire: a fire whose response cannot start is recorded
// on the schedule and not tried again; the schedule goes on.
func TestScheduleFailedFire(t *testing.T) {
	rt, store, pid, _, t0 := scheduleEnv(t)
	ctx := context.Background()
	s := newSchedule(t, rt, pid, engram.CatchUpSkip, t0)
	s.Agent = "nobody"
	if err := rt.Store.UpdateSchedule(ctx, s); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Minute + time.Second)
	rt.fireDue(ctx, now)
	rt.fireDue(ctx, now)
	got := getSchedule(t, rt, s)
	if len(store.responses()) != 0 || got.LastError == "" || got.LastResponseID != "" || got.LastFireAt != now.Unix() {
		t.Errorf("failed fire: %d responses, schedule %+v", len(store.responses()), got)
	}
	if got.NextFireAt != t0.Add(2*time.Minute).Unix() {
		t.Errorf("next fire %v", time.Unix(got.NextFireAt, 0))
	}
	if fires := auditOf(t, rt, pid, "schedule.fire"); len(fires) != 1 || fires[0].Outcome != engram.AuditFailure || !strings.Contains(string(fires[0].Details), "nobody") {
		t.Errorf("audit of a failed fire: %+v", fires)
	}
}

// TestSchedulePaused: a paused schedule does not fire.
func TestSchedulePaused(t *testing.T) {
	rt, store, pid, _, t0 := scheduleEnv(t)
	s := newSchedule(t, rt, pid, engram.CatchUpSkip, t0)
	s.Paused = true
	if err := rt.Store.UpdateSchedule(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	rt.fireDue(context.Background(), t0.Add(time.Hour))
	if n := len(store.responses()); n != 0 {
		t.Errorf("a paused schedule fired %d times", n)
	}
}
