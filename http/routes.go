package http

import (
	"net/http"

	"github.com/engram-run/engram"
)

// route is one endpoint: its pattern, the least role that may call it
// ("" for no key), and its handler.
type route struct {
	pattern string
	role    engram.Role
	handler http.HandlerFunc
}

// routes lists every endpoint of the API.
func (s *Server) routes() []route {
	inv, dev, adm := engram.RoleInvoker, engram.RoleDeveloper, engram.RoleAdmin
	return []route{
		{"GET /healthz", "", s.health},
		{"GET /readyz", "", s.ready},

		// OpenAI Responses.
		{"POST /v1/responses", inv, s.createResponse},
		{"GET /v1/responses/{id}", inv, s.getResponse},
		{"DELETE /v1/responses/{id}", inv, s.deleteResponse},
		{"GET /v1/responses/{id}/input_items", inv, s.listInputItems},

		// OpenAI Conversations, and Engram's list of them.
		{"POST /v1/conversations", inv, s.createConversation},
		{"GET /v1/conversations", inv, s.listConversations},
		{"GET /v1/conversations/{id}", inv, s.getConversation},
		{"POST /v1/conversations/{id}", inv, s.updateConversation},
		{"DELETE /v1/conversations/{id}", inv, s.deleteConversation},
		{"POST /v1/conversations/{id}/items", inv, s.createItems},
		{"GET /v1/conversations/{id}/items", inv, s.listItems},
		{"GET /v1/conversations/{id}/items/{item}", inv, s.getItem},
		{"DELETE /v1/conversations/{id}/items/{item}", inv, s.deleteItem},

		// Engram: agents and keys.
		{"POST /v1/agents", dev, s.createAgent},
		{"GET /v1/agents", inv, s.listAgents},
		{"GET /v1/agents/{ref}", inv, s.getAgent},
		{"POST /v1/agents/{ref}", dev, s.updateAgent},
		{"DELETE /v1/agents/{ref}", dev, s.deleteAgent},
		{"GET /v1/agents/{ref}/versions", inv, s.listAgentVersions},
		{"POST /v1/keys", adm, s.createKey},
		{"GET /v1/keys", adm, s.listKeys},
		{"DELETE /v1/keys/{id}", adm, s.revokeKey},
	}
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	if s.Ready != nil {
		if err := s.Ready(r.Context()); err != nil {
			s.Logger.Warn("not ready", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
