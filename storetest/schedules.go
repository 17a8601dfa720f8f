package storetest

import (
	"reflect"
	"testing"

	"github.com/engram-run/engram"
)

func newSchedule(t *testing.T, s engram.Store, projectID string, next int64) *engram.Schedule {
	t.Helper()
	sc := &engram.Schedule{ID: engram.NewID("sched"), ProjectID: projectID, Name: "daily", Agent: "keeper", Cron: "0 9 * * *",
		Timezone: "Europe/Lisbon", Input: "Check the hives.", CatchUp: engram.CatchUpSkip, NextFireAt: next,
		Metadata: map[string]string{"team": "bees"}}
	must(t, s.CreateSchedule(ctx, sc))
	return sc
}

func testSchedules(t *testing.T, s engram.Store) {
	pid, other := newProject(t, s), newProject(t, s)
	sc := newSchedule(t, s, pid, 1000)
	if sc.CreatedAt == 0 || sc.UpdatedAt != sc.CreatedAt {
		t.Errorf("CreateSchedule set created_at %d, updated_at %d", sc.CreatedAt, sc.UpdatedAt)
	}
	got, err := s.GetSchedule(ctx, pid, sc.ID)
	must(t, err)
	if !reflect.DeepEqual(got, sc) {
		t.Errorf("GetSchedule = %+v, want %+v", got, sc)
	}
	wantCode(t, s.CreateSchedule(ctx, sc), engram.EConflict)
	wantCode(t, s.CreateSchedule(ctx, &engram.Schedule{ID: engram.NewID("sched"), ProjectID: "proj_missing", Agent: "a", Cron: "* * * * *", Input: "x"}), engram.ENotFound)

	// Another project's schedule is not there for it.
	_, err = s.GetSchedule(ctx, other, sc.ID)
	wantCode(t, err, engram.ENotFound)
	theirs := *sc
	theirs.ProjectID = other
	wantCode(t, s.UpdateSchedule(ctx, &theirs), engram.ENotFound)
	wantCode(t, s.DeleteSchedule(ctx, other, sc.ID), engram.ENotFound)
	wantCode(t, s.AdvanceSchedule(ctx, other, sc.ID, 1000, 2000, 1000), engram.ENotFound)
	must(t, s.RecordScheduleFire(ctx, other, sc.ID, 0, "resp_theirs", ""))
	if list, _, err := s.ListSchedules(ctx, other, engram.Page{}); err != nil || len(list) != 0 {
		t.Errorf("ListSchedules(other project) = %v, %v", list, err)
	}

	// Update changes the schedule's own fields, never the last fire's record.
	must(t, s.AdvanceSchedule(ctx, pid, sc.ID, 1000, 2000, 1000))
	must(t, s.RecordScheduleFire(ctx, pid, sc.ID, 1000, "resp_1", ""))
	upd := *sc
	upd.Name, upd.Cron, upd.Paused, upd.NextFireAt, upd.Metadata = "hourly", "0 * * * *", true, 0, nil
	upd.LastFireAt, upd.LastResponseID = 5, "resp_stale"
	must(t, s.UpdateSchedule(ctx, &upd))
	got, err = s.GetSchedule(ctx, pid, sc.ID)
	must(t, err)
	if got.Name != "hourly" || got.Cron != "0 * * * *" || !got.Paused || got.NextFireAt != 0 || len(got.Metadata) != 0 {
		t.Errorf("after update: %+v", got)
	}
	if got.LastFireAt != 1000 || got.LastResponseID != "resp_1" {
		t.Errorf("update changed the last fire's record: %d %q", got.LastFireAt, got.LastResponseID)
	}

	must(t, s.DeleteSchedule(ctx, pid, sc.ID))
	_, err = s.GetSchedule(ctx, pid, sc.ID)
	wantCode(t, err, engram.ENotFound)
	wantCode(t, s.DeleteSchedule(ctx, pid, sc.ID), engram.ENotFound)
}

// testScheduleAdvance: advancing is a compare-and-set on next_fire_at, so
// of two schedulers that read the same due schedule only one fires it.
func testScheduleAdvance(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	sc := newSchedule(t, s, pid, 1000)
	must(t, s.AdvanceSchedule(ctx, pid, sc.ID, 1000, 2000, 1001))
	wantCode(t, s.AdvanceSchedule(ctx, pid, sc.ID, 1000, 2000, 1001), engram.EConflict)
	wantCode(t, s.AdvanceSchedule(ctx, pid, "sched_missing", 1000, 2000, 1001), engram.ENotFound)
	must(t, s.RecordScheduleFire(ctx, pid, sc.ID, 1001, "resp_a", ""))
	// A record of an older fire, arriving late, does not overwrite it.
	must(t, s.RecordScheduleFire(ctx, pid, sc.ID, 900, "resp_old", ""))
	got, err := s.GetSchedule(ctx, pid, sc.ID)
	must(t, err)
	if got.NextFireAt != 2000 || got.LastFireAt != 1001 || got.LastResponseID != "resp_a" || got.LastError != "" {
		t.Errorf("after one fire: %+v", got)
	}
	// An advance without a fire (a missed one dropped) keeps the record.
	must(t, s.AdvanceSchedule(ctx, pid, sc.ID, 2000, 3000, 0))
	got, err = s.GetSchedule(ctx, pid, sc.ID)
	must(t, err)
	if got.NextFireAt != 3000 || got.LastFireAt != 1001 || got.LastResponseID != "resp_a" {
		t.Errorf("after a dropped fire: %+v", got)
	}
	// A new fire clears the last one's outcome until it has its own.
	must(t, s.AdvanceSchedule(ctx, pid, sc.ID, 3000, 4000, 3000))
	must(t, s.RecordScheduleFire(ctx, pid, sc.ID, 3000, "", "agent not found"))
	got, err = s.GetSchedule(ctx, pid, sc.ID)
	must(t, err)
	if got.LastFireAt != 3000 || got.LastResponseID != "" || got.LastError != "agent not found" {
		t.Errorf("after a failed fire: %+v", got)
	}
	// A paused schedule cannot be advanced, even with the right time.
	got.Paused = true
	must(t, s.UpdateSchedule(ctx, got))
	wantCode(t, s.AdvanceSchedule(ctx, pid, sc.ID, 4000, 5000, 4000), engram.EConflict)
}

// testDueSchedules: due lists unpaused schedules of every project whose
// time has come, earliest first, and nothing else.
func testDueSchedules(t *testing.T, s engram.Store) {
	pid, other := newProject(t, s), newProject(t, s)
	late := newSchedule(t, s, other, 500)
	onTime := newSchedule(t, s, pid, 1000)
	newSchedule(t, s, pid, 1001) // future
	newSchedule(t, s, pid, 0)    // never
	paused := newSchedule(t, s, pid, 900)
	paused.Paused = true
	must(t, s.UpdateSchedule(ctx, paused))

	due, err := s.DueSchedules(ctx, 1000, 10)
	must(t, err)
	if len(due) != 2 || due[0].ID != late.ID || due[1].ID != onTime.ID {
		t.Fatalf("DueSchedules = %v, want the late one then the one due now", due)
	}
	if due[0].ProjectID != other || due[1].ProjectID != pid {
		t.Errorf("due schedules lack their projects: %q %q", due[0].ProjectID, due[1].ProjectID)
	}
	due, err = s.DueSchedules(ctx, 1000, 1)
	must(t, err)
	if len(due) != 1 || due[0].ID != late.ID {
		t.Errorf("DueSchedules(limit 1) = %v", due)
	}
	must(t, s.AdvanceSchedule(ctx, other, late.ID, 500, 5000, 1000))
	due, err = s.DueSchedules(ctx, 1000, 10)
	must(t, err)
	if len(due) != 1 || due[0].ID != onTime.ID {
		t.Errorf("after advancing one: %v", due)
	}
}

func testSchedulePaging(t *testing.T, s engram.Store) {
	pid, other := newProject(t, s), newProject(t, s)
	var ids []string
	for i := range 6 {
		sc := &engram.Schedule{ID: engram.NewID("sched"), ProjectID: pid, Agent: "a", Cron: "* * * * *", Timezone: "UTC",
			Input: "x", CatchUp: engram.CatchUpSkip, CreatedAt: int64(1000 + i/2)} // pairs share a second
		must(t, s.CreateSchedule(ctx, sc))
		ids = append(ids, sc.ID)
		newSchedule(t, s, other, 0)
	}
	checkPages(t, ids, func(p engram.Page) ([]string, bool, error) {
		list, more, err := s.ListSchedules(ctx, pid, p)
		out := make([]string, len(list))
		for i, sc := range list {
			out[i] = sc.ID
		}
		return out, more, err
	})
}
