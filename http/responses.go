package http

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/http/openai"
)

func (s *Server) createResponse(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	req, err := openai.DecodeResponseRequest(body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if req.User, err = boundUser(r, req.User); err != nil {
		s.fail(w, r, err)
		return
	}
	k := keyOf(r)
	req.KeyID, req.KeyRole = k.ID, string(k.Role)
	pid := keyOf(r).ProjectID
	if !req.Stream {
		resp, err := s.Responses.CreateResponse(r.Context(), pid, req, nil)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, openai.EncodeResponse(resp))
		return
	}
	sse := newEventWriter(w)
	_, err = s.Responses.CreateResponse(r.Context(), pid, req, func(ev engram.StoredEvent) { sse.send(ev) })
	if err != nil && !sse.started {
		s.fail(w, r, err)
	}
	// A failure after the stream began was sent as response.failed.
}

// eventWriter writes stored stream events as Server-Sent Events. Headers
// go out with the first event, so that a request refused before its run
// starts still gets a plain JSON error.
type eventWriter struct {
	w       http.ResponseWriter
	flusher http.Flusher
	started bool
}

func newEventWriter(w http.ResponseWriter) *eventWriter {
	f, _ := w.(http.Flusher)
	return &eventWriter{w: w, flusher: f}
}

func (e *eventWriter) send(ev engram.StoredEvent) error {
	if !e.started {
		e.started = true
		h := e.w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("Connection", "keep-alive")
		h.Set("X-Accel-Buffering", "no")
		e.w.WriteHeader(http.StatusOK)
	}
	if _, err := fmt.Fprintf(e.w, "event: %s\ndata: %s\n\n", ev.Type, ev.Data); err != nil {
		return err
	}
	if e.flusher != nil {
		e.flusher.Flush()
	}
	return nil
}

// response loads a response the request may see.
func (s *Server) response(r *http.Request) (*engram.Response, error) {
	resp, err := s.Store.GetResponse(r.Context(), keyOf(r).ProjectID, r.PathValue("id"))
	if err != nil || !visible(r, resp.User) {
		if err == nil || engram.ErrorCode(err) == engram.ENotFound {
			return nil, engram.Errorf(engram.ENotFound, "Response with id '%s' not found.", r.PathValue("id"))
		}
		return nil, err
	}
	return resp, nil
}

func (s *Server) getResponse(w http.ResponseWriter, r *http.Request) {
	resp, err := s.response(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	if q.Get("stream") != "true" && !streamInBody(r) {
		writeJSON(w, http.StatusOK, openai.EncodeResponse(resp))
		return
	}
	after := int64(-1)
	if v := q.Get("starting_after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < -1 {
			s.fail(w, r, engram.ParamErrorf(engram.EInvalid, "starting_after", "Invalid 'starting_after': expected a sequence number, got '%s'.", v))
			return
		}
		after = n
	}
	sse := newEventWriter(w)
	err = s.Responses.Stream(r.Context(), resp.ProjectID, resp.ID, after, sse.send)
	if err != nil && !sse.started && r.Context().Err() == nil {
		s.fail(w, r, err)
		return
	}
	if !sse.started {
		// Nothing after starting_after: an empty stream, not an error.
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
	}
}

// streamInBody reports whether a GET carries {"stream": true} as its body:
// openai-go's Responses.GetStreaming asks for the stream that way, not in
// the query.
func streamInBody(r *http.Request) bool {
	if r.Body == nil || r.ContentLength == 0 {
		return false
	}
	var body struct {
		Stream bool `json:"stream"`
	}
	return json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body) == nil && body.Stream
}

func (s *Server) cancelResponse(w http.ResponseWriter, r *http.Request) {
	resp, err := s.response(r)
	if err == nil {
		resp, err = s.Responses.Cancel(r.Context(), resp.ProjectID, resp.ID)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, openai.EncodeResponse(resp))
}

func (s *Server) approveResponse(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	a, err := openai.DecodeApproval(body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	resp, err := s.response(r)
	if err == nil {
		k := keyOf(r)
		a.Decider = k.ID
		if k.User != "" {
			a.Decider = "user:" + k.User
		}
		resp, err = s.Responses.Approve(r.Context(), resp.ProjectID, resp.ID, a)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, openai.EncodeResponse(resp))
}

func (s *Server) listSteps(w http.ResponseWriter, r *http.Request) {
	resp, err := s.response(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	steps, err := s.Store.ListSteps(r.Context(), resp.ProjectID, resp.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, openai.NewList(openai.EncodeSteps(steps), false, func(st openai.Step) string { return strconv.Itoa(st.N) }))
}

func (s *Server) deleteResponse(w http.ResponseWriter, r *http.Request) {
	resp, err := s.response(r)
	if err == nil {
		err = s.Store.DeleteResponse(r.Context(), resp.ProjectID, resp.ID)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, openai.Deleted{ID: resp.ID, Object: "response.deleted", Deleted: true})
}

func (s *Server) listInputItems(w http.ResponseWriter, r *http.Request) {
	p, err := page(r, "desc")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	resp, err := s.response(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	items, more, err := s.Store.ListInputItems(r.Context(), resp.ProjectID, resp.ID, p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, openai.NewList(openai.EncodeItems(items), more, itemID))
}

func itemID(it openai.Item) string { return it.ID }

func (s *Server) listResponses(w http.ResponseWriter, r *http.Request) {
	p, err := page(r, "desc")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f := engram.ResponseFilter{Status: r.URL.Query().Get("status"), Page: p}
	switch f.Status {
	case "", engram.StatusQueued, engram.StatusInProgress, engram.StatusRequiresAction, engram.StatusCompleted,
		engram.StatusFailed, engram.StatusCancelled, engram.StatusIncomplete:
	default:
		s.fail(w, r, engram.ParamErrorf(engram.EInvalid, "status", "Invalid 'status': expected queued, in_progress, requires_action, completed, failed, cancelled or incomplete."))
		return
	}
	if k := keyOf(r); k.User != "" {
		f.User = k.User
	}
	list, more, err := s.Store.ListResponses(r.Context(), keyOf(r).ProjectID, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]*openai.Response, len(list))
	for i, resp := range list {
		out[i] = openai.EncodeResponse(resp)
	}
	writeJSON(w, http.StatusOK, openai.NewList(out, more, func(r *openai.Response) string { return r.ID }))
}

// compactResponse summarises a context: OpenAI's /v1/responses/compact.
func (s *Server) compactResponse(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	req, err := openai.DecodeCompactRequest(body)
	if err == nil {
		req.User, err = boundUser(r, req.User)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.Responses.Compact(r.Context(), keyOf(r).ProjectID, req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, openai.EncodeCompaction(c))
}

// countInputTokens counts what a response's first model call would send:
// OpenAI's /v1/responses/input_tokens.
func (s *Server) countInputTokens(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	req, err := openai.DecodeInputTokensRequest(body)
	if err == nil {
		req.User, err = boundUser(r, req.User)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	n, err := s.Responses.CountInputTokens(r.Context(), keyOf(r).ProjectID, req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "response.input_tokens", "input_tokens": n})
}
