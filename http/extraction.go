package http

import (
	"net/http"

	"github.com/engram-run/engram"
)

// extractionJSON is a conversation's memory extraction state.
type extractionJSON struct {
	Object string `json:"object"`
	*engram.Extraction
}

// getExtraction shows where memory extraction stands for a conversation:
// status "off" when its agent does not extract (or it has had no turn
// since the agent started to).
func (s *Server) getExtraction(w http.ResponseWriter, r *http.Request) {
	c, err := s.conversation(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	e, err := s.Store.GetExtraction(r.Context(), c.ProjectID, c.ID)
	if engram.ErrorCode(err) == engram.ENotFound {
		e, err = &engram.Extraction{ConversationID: c.ID, AgentID: c.AgentID, User: c.User, Status: "off"}, nil
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, extractionJSON{Object: "memory.extraction", Extraction: e})
}
