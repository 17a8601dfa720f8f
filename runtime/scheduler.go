package runtime

import (
	"context"
	"time"

	"github.com/engram-run/engram"
)

// scheduleBatch bounds the schedules fired in one pass; the rest wait for
// the next tick, so one pass never holds a long list in memory.
const scheduleBatch = 100

// RunSchedules fires due schedules until ctx ends or the node stops,
// looking every PollInterval. Any number of nodes may run it on one store: each fire is
// owned by the one that advances the schedule first.
func (rt *Runtime) RunSchedules(ctx context.Context) {
	rt.every(ctx, nil, func() { rt.fireDue(ctx, time.Now()) })
}

// every calls work now, then every PollInterval and whenever wake says
// so (a nil wake never does), until ctx ends or the node stops.
func (rt *Runtime) every(ctx context.Context, wake <-chan struct{}, work func()) {
	rt.everyPeriod(ctx, rt.PollInterval, wake, work)
}

// everyPeriod is every with a period of its own.
func (rt *Runtime) everyPeriod(ctx context.Context, period time.Duration, wake <-chan struct{}, work func()) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		work()
		select {
		case <-ctx.Done():
			return
		case <-rt.context().Done():
			return
		case <-tick.C:
		case <-wake:
		}
	}
}

// fireDue fires the schedules due at now, each under its catch-up policy.
// A schedule is advanced before its response is created, so a fire another
// caller already owns is skipped, and a fire whose response fails to start
// is recorded and never tried again.
func (rt *Runtime) fireDue(ctx context.Context, now time.Time) {
	for {
		due, err := rt.Store.DueSchedules(ctx, now.Unix(), scheduleBatch)
		if err != nil {
			if ctx.Err() == nil {
				rt.Logger.Error("listing due schedules failed", "err", err)
			}
			return
		}
		for _, s := range due {
			rt.fire(ctx, s, now)
		}
		if len(due) < scheduleBatch || ctx.Err() != nil {
			return
		}
	}
}

func (rt *Runtime) fire(ctx context.Context, s *engram.Schedule, now time.Time) {
	fire, next := s.Plan(now)
	var firedAt int64
	if fire {
		firedAt = now.Unix()
	}
	if err := rt.Store.AdvanceSchedule(ctx, s.ProjectID, s.ID, s.NextFireAt, next, firedAt); err != nil {
		if code := engram.ErrorCode(err); code != engram.EConflict && code != engram.ENotFound {
			rt.Logger.Error("advancing a schedule failed", "schedule", s.ID, "err", err)
		}
		return // another scheduler owns this fire, or it changed under us
	}
	if !fire {
		rt.Logger.Info("schedule missed a fire and does not catch up", "schedule", s.ID, "due", s.NextFireAt)
		return
	}
	req := &engram.ResponseRequest{
		Agent:        s.Agent,
		Conversation: s.Conversation,
		Input: []*engram.Item{{Type: engram.ItemMessage, Role: "user", Status: engram.StatusCompleted,
			Content: []engram.Content{{Type: engram.ContentInputText, Text: s.Input}}}},
		Background: true,
		Metadata:   map[string]string{"schedule_id": s.ID},
	}
	var respID, errMsg string
	r, err := rt.CreateResponse(ctx, s.ProjectID, req, nil)
	if err != nil {
		rt.Logger.Warn("a schedule's response did not start", "schedule", s.ID, "err", err)
		errMsg = engram.ErrorMessage(err)
	} else {
		respID = r.ID
	}
	if err := rt.Store.RecordScheduleFire(ctx, s.ProjectID, s.ID, firedAt, respID, errMsg); err != nil {
		rt.Logger.Warn("recording a schedule's fire failed", "schedule", s.ID, "response", respID, "err", err)
	}
	outcome := engram.AuditSuccess
	if errMsg != "" {
		outcome = engram.AuditFailure
	}
	if err := engram.RecordAudit(ctx, rt.Audit, &engram.AuditEntry{ProjectID: s.ProjectID, Actor: "system:schedule", Action: "schedule.fire",
		Resource: s.ID, Outcome: outcome, Details: engram.AuditDetails(map[string]string{"response_id": respID, "error": errMsg})}); err != nil {
		rt.Logger.Error("a schedule's fire could not be recorded in the audit log", "schedule", s.ID, "response", respID, "err", err)
	}
}
