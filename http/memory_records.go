package http

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/http/openai"
)

// recordJSON is a memory record as the API shows it; Score only in search
// results.
type recordJSON struct {
	Object string `json:"object"`
	*engram.MemoryRecord
	Score *float64 `json:"score,omitempty"`
}

func encodeRecord(rec *engram.MemoryRecord) recordJSON {
	if rec.Metadata == nil {
		rec.Metadata = map[string]string{}
	}
	return recordJSON{Object: "memory.record", MemoryRecord: rec}
}

func recordID(r recordJSON) string { return r.ID }

// memoryService is the server's memory, or 503 when none is configured.
func (s *Server) memoryService() (engram.MemoryService, error) {
	if s.Memory == nil {
		return nil, engram.Errorf(engram.EUnavailable, "Memory is not configured on this server.")
	}
	return s.Memory, nil
}

// memoryScope resolves the agent and user a memory request names into a
// scope. A key bound to an end user reaches that user's memory only, and
// another user's memory is answered as absent rather than forbidden, so a
// bound key cannot even learn whose memory exists.
func (s *Server) memoryScope(r *http.Request, agent, user string) (engram.MemoryScope, error) {
	k := keyOf(r)
	scope := engram.MemoryScope{ProjectID: k.ProjectID, User: user}
	if k.User != "" {
		if user != "" && user != k.User {
			return scope, engram.ParamErrorf(engram.ENotFound, "user", "No memory of user '%s' found.", user)
		}
		scope.User = k.User
	}
	if agent != "" {
		a, err := s.Store.GetAgent(r.Context(), k.ProjectID, agent, 0)
		if err != nil {
			if engram.ErrorCode(err) == engram.ENotFound {
				return scope, engram.ParamErrorf(engram.ENotFound, "agent", "Agent '%s' not found.", agent)
			}
			return scope, err
		}
		scope.AgentID = a.ID
	}
	return scope, nil
}

// record loads a record the request may see.
func (s *Server) record(r *http.Request) (*engram.MemoryRecord, error) {
	id := r.PathValue("id")
	rec, err := s.Store.GetRecord(r.Context(), keyOf(r).ProjectID, id)
	if err != nil || !visible(r, rec.User) {
		if err == nil || engram.ErrorCode(err) == engram.ENotFound {
			return nil, engram.Errorf(engram.ENotFound, "Memory record with id '%s' not found.", id)
		}
		return nil, err
	}
	return rec, nil
}

func (s *Server) createRecord(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Agent      string          `json:"agent"`
		User       string          `json:"user"`
		Kind       string          `json:"kind"`
		Text       string          `json:"text"`
		Metadata   json.RawMessage `json:"metadata"`
		Supersedes string          `json:"supersedes"`
		OccurredAt int64           `json:"occurred_at"`
	}
	if err := s.decodeBody(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	memory, err := s.memoryService()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	scope, err := s.memoryScope(r, body.Agent, body.User)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rec := &engram.MemoryRecord{ProjectID: scope.ProjectID, AgentID: scope.AgentID, User: scope.User,
		Kind: body.Kind, Text: body.Text, Source: engram.SourceAPI, Supersedes: body.Supersedes, OccurredAt: body.OccurredAt}
	if len(body.Metadata) > 0 && string(body.Metadata) != "null" {
		if rec.Metadata, err = openai.DecodeMetadata(body.Metadata); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if err := memory.WriteRecord(r.Context(), rec); err != nil {
		// Only the record to supersede can be absent or taken at this
		// point: the scope was resolved above.
		switch code := engram.ErrorCode(err); {
		case code == engram.ENotFound && body.Supersedes != "":
			err = engram.ParamErrorf(engram.ENotFound, "supersedes", "Memory record with id '%s' not found in this agent's memory of this user.", body.Supersedes)
		case code == engram.EConflict && body.Supersedes != "":
			err = engram.ParamErrorf(engram.EConflict, "supersedes", "Memory record '%s' is already superseded; supersede its latest version instead.", body.Supersedes)
		}
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, encodeRecord(rec))
}

func (s *Server) listRecords(w http.ResponseWriter, r *http.Request) {
	p, err := page(r, "desc")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	f := engram.RecordFilter{Kind: q.Get("kind"), Page: p}
	if f.Kind != "" && !validRecordKind(f.Kind) {
		s.fail(w, r, engram.ParamErrorf(engram.EInvalid, "kind", "Invalid value for 'kind': expected 'fact', 'preference', 'episode' or 'passage', but got '%s'.", f.Kind))
		return
	}
	if v := q.Get("include_superseded"); v != "" {
		if f.IncludeSuperseded, err = strconv.ParseBool(v); err != nil {
			s.fail(w, r, engram.ParamErrorf(engram.EInvalid, "include_superseded", "Invalid value for 'include_superseded': expected true or false, but got '%s'.", v))
			return
		}
	}
	scope, err := s.memoryScope(r, q.Get("agent"), q.Get("user"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	records, more, err := s.Store.ListRecords(r.Context(), scope, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]recordJSON, len(records))
	for i, rec := range records {
		out[i] = encodeRecord(rec)
	}
	writeJSON(w, http.StatusOK, openai.NewList(out, more, recordID))
}

func validRecordKind(kind string) bool {
	switch kind {
	case engram.RecordFact, engram.RecordPreference, engram.RecordEpisode, engram.RecordPassage:
		return true
	}
	return false
}

func (s *Server) getRecord(w http.ResponseWriter, r *http.Request) {
	rec, err := s.record(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, encodeRecord(rec))
}

func (s *Server) deleteRecord(w http.ResponseWriter, r *http.Request) {
	rec, err := s.record(r)
	if err == nil {
		err = s.Store.DeleteRecord(r.Context(), rec.ProjectID, rec.ID)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, openai.Deleted{ID: rec.ID, Object: "memory.record.deleted", Deleted: true})
}

func (s *Server) searchRecords(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Agent             string   `json:"agent"`
		User              string   `json:"user"`
		Query             string   `json:"query"`
		Limit             int      `json:"limit"`
		Kinds             []string `json:"kinds"`
		IncludeSuperseded bool     `json:"include_superseded"`
		Mode              string   `json:"mode"`
	}
	if err := s.decodeBody(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	if body.Limit < 0 || body.Limit > 100 {
		s.fail(w, r, engram.ParamErrorf(engram.EInvalid, "limit", "Invalid 'limit': expected an integer between 1 and 100, but got %d.", body.Limit))
		return
	}
	memory, err := s.memoryService()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	scope, err := s.memoryScope(r, body.Agent, body.User)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	hits, err := memory.SearchRecords(r.Context(), engram.MemoryQuery{Scope: scope, Text: body.Query, Limit: body.Limit,
		Kinds: body.Kinds, IncludeSuperseded: body.IncludeSuperseded, Mode: body.Mode})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]recordJSON, len(hits))
	for i, h := range hits {
		out[i] = encodeRecord(h.Record)
		out[i].Score = &h.Score
	}
	writeJSON(w, http.StatusOK, openai.NewList(out, false, recordID))
}
