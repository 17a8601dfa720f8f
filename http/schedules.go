package http

import (
	"net/http"
	"time"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/http/openai"
)

// scheduleBody is the JSON of POST /v1/schedules and POST
// /v1/schedules/{id}: every field optional on update, where only the
// fields given change.
type scheduleBody struct {
	Name         *string            `json:"name"`
	Agent        *string            `json:"agent"`
	Cron         *string            `json:"cron"`
	Timezone     *string            `json:"timezone"`
	Conversation *string            `json:"conversation"`
	Input        *string            `json:"input"`
	CatchUp      *string            `json:"catch_up"`
	Paused       *bool              `json:"paused"`
	Metadata     *map[string]string `json:"metadata"`
}

func (b *scheduleBody) apply(s *engram.Schedule) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&s.Name, b.Name)
	set(&s.Agent, b.Agent)
	set(&s.Cron, b.Cron)
	set(&s.Timezone, b.Timezone)
	set(&s.Conversation, b.Conversation)
	set(&s.Input, b.Input)
	set(&s.CatchUp, b.CatchUp)
	if b.Paused != nil {
		s.Paused = *b.Paused
	}
	if b.Metadata != nil {
		s.Metadata = *b.Metadata
	}
}

// prepareSchedule checks sc (its agent and conversation too when refs is
// set) and sets its next fire time from now. Every change starts the
// schedule afresh from now, so a time the scheduler may already have fired
// is never set again.
func (s *Server) prepareSchedule(r *http.Request, sc *engram.Schedule, refs bool) error {
	if err := sc.Check(); err != nil {
		return err
	}
	if refs {
		if _, err := s.Store.GetAgent(r.Context(), sc.ProjectID, sc.Agent, 0); err != nil {
			if engram.ErrorCode(err) == engram.ENotFound {
				return engram.ParamErrorf(engram.ENotFound, "agent", "Agent '%s' not found.", sc.Agent)
			}
			return err
		}
	}
	if refs && sc.Conversation != "" {
		if _, err := s.Store.GetConversation(r.Context(), sc.ProjectID, sc.Conversation); err != nil {
			if engram.ErrorCode(err) == engram.ENotFound {
				return engram.ParamErrorf(engram.ENotFound, "conversation", "Conversation with id '%s' not found.", sc.Conversation)
			}
			return err
		}
	}
	sc.NextFireAt = 0
	if !sc.Paused {
		sc.NextFireAt = sc.NextFireAfter(time.Now())
	}
	return nil
}

// scheduleJSON is a schedule as the API shows it; NextFireTimes only on
// retrieval of one.
type scheduleJSON struct {
	Object string `json:"object"`
	*engram.Schedule
	NextFireTimes []string `json:"next_fire_times,omitempty"`
}

func encodeSchedule(sc *engram.Schedule) scheduleJSON {
	return scheduleJSON{Object: "schedule", Schedule: sc}
}

// withNextFires adds the schedule's next five fire times, in its zone.
func withNextFires(sc *engram.Schedule) scheduleJSON {
	out := encodeSchedule(sc)
	out.NextFireTimes = []string{}
	if !sc.Paused {
		for _, t := range sc.NextFires(time.Now(), 5) {
			out.NextFireTimes = append(out.NextFireTimes, t.Format(time.RFC3339))
		}
	}
	return out
}

func (s *Server) createSchedule(w http.ResponseWriter, r *http.Request) {
	var body scheduleBody
	if err := s.decodeBody(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	sc := &engram.Schedule{ID: engram.NewID("sched"), ProjectID: keyOf(r).ProjectID}
	body.apply(sc)
	err := s.prepareSchedule(r, sc, true)
	if err == nil {
		err = s.Store.CreateSchedule(r.Context(), sc)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, withNextFires(sc))
}

func (s *Server) getSchedule(w http.ResponseWriter, r *http.Request) {
	sc, err := s.Store.GetSchedule(r.Context(), keyOf(r).ProjectID, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, withNextFires(sc))
}

func (s *Server) listSchedules(w http.ResponseWriter, r *http.Request) {
	p, err := page(r, "asc")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	list, more, err := s.Store.ListSchedules(r.Context(), keyOf(r).ProjectID, p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]scheduleJSON, len(list))
	for i, sc := range list {
		out[i] = encodeSchedule(sc)
	}
	writeJSON(w, http.StatusOK, openai.NewList(out, more, func(sc scheduleJSON) string { return sc.ID }))
}

// changeSchedule reads the schedule, lets change alter it, checks it, sets
// its next fire time from now and stores it.
func (s *Server) changeSchedule(w http.ResponseWriter, r *http.Request, refs bool, change func(*engram.Schedule)) {
	sc, err := s.Store.GetSchedule(r.Context(), keyOf(r).ProjectID, r.PathValue("id"))
	if err == nil {
		change(sc)
		err = s.prepareSchedule(r, sc, refs)
	}
	if err == nil {
		err = s.Store.UpdateSchedule(r.Context(), sc)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, withNextFires(sc))
}

func (s *Server) updateSchedule(w http.ResponseWriter, r *http.Request) {
	var body scheduleBody
	if err := s.decodeBody(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	s.changeSchedule(w, r, true, body.apply)
}

func (s *Server) pauseSchedule(w http.ResponseWriter, r *http.Request) {
	// Pausing needs nothing else to be right: a schedule whose agent is
	// gone can still be paused.
	s.changeSchedule(w, r, false, func(sc *engram.Schedule) { sc.Paused = true })
}

func (s *Server) resumeSchedule(w http.ResponseWriter, r *http.Request) {
	s.changeSchedule(w, r, true, func(sc *engram.Schedule) { sc.Paused = false })
}

func (s *Server) deleteSchedule(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.Store.DeleteSchedule(r.Context(), keyOf(r).ProjectID, id); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, openai.Deleted{ID: id, Object: "schedule.deleted", Deleted: true})
}
