package http

import (
	"net/http"
	"strconv"

	"github.com/engram-run/engram"
)

// usageTotal is one group of GET /v1/usage.
type usageTotal struct {
	Object string `json:"object"`
	*engram.UsageTotal
}

// getUsage totals the project's token usage per project, agent,
// conversation, user or model, with what keeping state saved.
func (s *Server) getUsage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := engram.UsageFilter{GroupBy: q.Get("group_by"), ConversationID: q.Get("conversation"), User: q.Get("user")}
	if f.GroupBy == "" {
		f.GroupBy = "project"
	}
	for name, dst := range map[string]*int64{"from": &f.From, "to": &f.To} {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				s.fail(w, r, engram.ParamErrorf(engram.EInvalid, name, "Invalid '%s': expected Unix seconds.", name))
				return
			}
			*dst = n
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			s.fail(w, r, engram.ParamErrorf(engram.EInvalid, "limit", "Invalid 'limit': expected an integer from 1 to 1000."))
			return
		}
		f.Limit = n
	}
	var err error
	if f.User, err = boundUser(r, f.User); err != nil {
		s.fail(w, r, err)
		return
	}
	pid := keyOf(r).ProjectID
	if ref := q.Get("agent"); ref != "" {
		a, err := s.Store.GetAgent(r.Context(), pid, ref, 0)
		if err != nil {
			s.fail(w, r, engram.ParamErrorf(engram.ENotFound, "agent", "Agent '%s' not found.", ref))
			return
		}
		f.AgentID = a.ID
	}
	if f.ConversationID != "" {
		c, err := s.Store.GetConversation(r.Context(), pid, f.ConversationID)
		if err != nil || !visible(r, c.User) {
			s.fail(w, r, engram.ParamErrorf(engram.ENotFound, "conversation", "Conversation with id '%s' not found.", f.ConversationID))
			return
		}
	}
	totals, err := s.Store.UsageTotals(r.Context(), pid, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	data := make([]usageTotal, len(totals))
	for i, t := range totals {
		data[i] = usageTotal{Object: "usage.total", UsageTotal: t}
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "has_more": false})
}
