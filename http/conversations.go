package http

import (
	"encoding/json"
	"net/http"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/http/openai"
	"github.com/engram-run/engram/tokens"
)

func (s *Server) createConversation(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Metadata json.RawMessage `json:"metadata"`
		Items    json.RawMessage `json:"items"`
		Agent    string          `json:"agent"` // Engram
		User     string          `json:"user"`  // Engram
	}
	if err := s.decodeBody(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	c := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: keyOf(r).ProjectID, Metadata: map[string]string{}}
	var err error
	if c.User, err = boundUser(r, body.User); err != nil {
		s.fail(w, r, err)
		return
	}
	if len(body.Metadata) > 0 && string(body.Metadata) != "null" {
		if c.Metadata, err = openai.DecodeMetadata(body.Metadata); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	var items []*engram.Item
	if len(body.Items) > 0 && string(body.Items) != "null" {
		if items, err = openai.DecodeItems(body.Items); err != nil {
			s.fail(w, r, err)
			return
		}
		tokens.Stamp(items)
	}
	if body.Agent != "" {
		a, err := s.Store.GetAgent(r.Context(), c.ProjectID, body.Agent, 0)
		if err != nil {
			s.fail(w, r, engram.ParamErrorf(engram.ENotFound, "agent", "Agent '%s' not found.", body.Agent))
			return
		}
		c.AgentID = a.ID
	}
	if err := s.Store.CreateConversation(r.Context(), c, items); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, openai.EncodeConversation(c))
}

// conversation loads a conversation the request may see.
func (s *Server) conversation(r *http.Request) (*engram.Conversation, error) {
	id := r.PathValue("id")
	c, err := s.Store.GetConversation(r.Context(), keyOf(r).ProjectID, id)
	if err != nil || c.Hidden || !visible(r, c.User) {
		if err == nil || engram.ErrorCode(err) == engram.ENotFound {
			return nil, engram.Errorf(engram.ENotFound, "Conversation with id '%s' not found.", id)
		}
		return nil, err
	}
	return c, nil
}

func (s *Server) getConversation(w http.ResponseWriter, r *http.Request) {
	c, err := s.conversation(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, openai.EncodeConversation(c))
}

func (s *Server) updateConversation(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Metadata json.RawMessage `json:"metadata"`
	}
	if err := s.decodeBody(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	if len(body.Metadata) == 0 {
		s.fail(w, r, engram.ParamErrorf(engram.EInvalid, "metadata", "Missing required parameter: 'metadata'."))
		return
	}
	meta, err := openai.DecodeMetadata(body.Metadata)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.conversation(r)
	if err == nil {
		c, err = s.Store.UpdateConversation(r.Context(), c.ProjectID, c.ID, meta)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, openai.EncodeConversation(c))
}

func (s *Server) deleteConversation(w http.ResponseWriter, r *http.Request) {
	c, err := s.conversation(r)
	if err == nil {
		err = s.Store.DeleteConversation(r.Context(), c.ProjectID, c.ID)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, openai.Deleted{ID: c.ID, Object: "conversation.deleted", Deleted: true})
}

func (s *Server) listConversations(w http.ResponseWriter, r *http.Request) {
	p, err := page(r, "desc")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	f := engram.ConversationFilter{User: q.Get("user"), Page: p}
	if f.User, err = boundUser(r, f.User); err != nil {
		s.fail(w, r, err)
		return
	}
	if ref := q.Get("agent"); ref != "" {
		a, err := s.Store.GetAgent(r.Context(), keyOf(r).ProjectID, ref, 0)
		if err != nil {
			s.fail(w, r, engram.ParamErrorf(engram.ENotFound, "agent", "Agent '%s' not found.", ref))
			return
		}
		f.AgentID = a.ID
	}
	convs, more, err := s.Store.ListConversations(r.Context(), keyOf(r).ProjectID, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]*openai.Conversation, len(convs))
	for i, c := range convs {
		out[i] = openai.EncodeConversation(c)
	}
	writeJSON(w, http.StatusOK, openai.NewList(out, more, func(c *openai.Conversation) string { return c.ID }))
}

func (s *Server) createItems(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Items json.RawMessage `json:"items"`
	}
	if err := s.decodeBody(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	if len(body.Items) == 0 {
		s.fail(w, r, engram.ParamErrorf(engram.EInvalid, "items", "Missing required parameter: 'items'."))
		return
	}
	items, err := openai.DecodeItems(body.Items)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tokens.Stamp(items)
	c, err := s.conversation(r)
	if err == nil {
		err = s.Store.AppendItems(r.Context(), c.ProjectID, c.ID, items)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, openai.NewList(openai.EncodeItems(items), false, itemID))
}

func (s *Server) listItems(w http.ResponseWriter, r *http.Request) {
	p, err := page(r, "desc")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.conversation(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	items, more, err := s.Store.ListItems(r.Context(), c.ProjectID, c.ID, p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, openai.NewList(openai.EncodeItems(items), more, itemID))
}

func (s *Server) getItem(w http.ResponseWriter, r *http.Request) {
	c, err := s.conversation(r)
	var it *engram.Item
	if err == nil {
		it, err = s.Store.GetItem(r.Context(), c.ProjectID, c.ID, r.PathValue("item"))
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, openai.EncodeItem(it))
}

func (s *Server) deleteItem(w http.ResponseWriter, r *http.Request) {
	c, err := s.conversation(r)
	if err == nil {
		err = s.Store.DeleteItem(r.Context(), c.ProjectID, c.ID, r.PathValue("item"))
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, openai.EncodeConversation(c))
}
