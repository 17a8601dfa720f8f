package http

import (
	"net/http"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/http/openai"
)

// retentionBody is the JSON of POST /v1/retention: the fields given change.
type retentionBody struct {
	ConversationsDays *int `json:"conversations_days"`
	ResponsesDays     *int `json:"responses_days"`
	EventsDays        *int `json:"events_days"`
}

// apply returns policy with the fields b gives changed.
func (b retentionBody) apply(policy engram.Retention) engram.Retention {
	for _, f := range []struct {
		dst *int
		src *int
	}{{&policy.ConversationsDays, b.ConversationsDays}, {&policy.ResponsesDays, b.ResponsesDays}, {&policy.EventsDays, b.EventsDays}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	return policy
}

type retentionJSON struct {
	Object string `json:"object"`
	engram.Retention
}

func (s *Server) getRetention(w http.ResponseWriter, r *http.Request) {
	p, err := s.Store.GetProject(r.Context(), keyOf(r).ProjectID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, retentionJSON{Object: "retention", Retention: p.Retention})
}

func (s *Server) setRetention(w http.ResponseWriter, r *http.Request) {
	var body retentionBody
	if err := s.decodeBody(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	pid := keyOf(r).ProjectID
	p, err := s.Store.GetProject(r.Context(), pid)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	policy := body.apply(p.Retention)
	if err := policy.Check(""); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.Store.SetRetention(r.Context(), pid, policy); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, retentionJSON{Object: "retention", Retention: policy})
}

type retentionLogJSON struct {
	Object string `json:"object"`
	*engram.RetentionLogEntry
}

func (s *Server) listRetentionLog(w http.ResponseWriter, r *http.Request) {
	p, err := page(r, "desc")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	list, more, err := s.Store.ListRetentionLog(r.Context(), keyOf(r).ProjectID, p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]retentionLogJSON, len(list))
	for i, e := range list {
		out[i] = retentionLogJSON{Object: "retention.purge", RetentionLogEntry: e}
	}
	writeJSON(w, http.StatusOK, openai.NewList(out, more, func(e retentionLogJSON) string { return e.ID }))
}
