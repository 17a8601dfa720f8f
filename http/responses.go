package http

import (
	"fmt"
	"net/http"

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
	if req.Background {
		s.fail(w, r, engram.ParamErrorf(engram.EUnsupported, "background", "Background responses are not available in this version of Engram; run the response in the foreground."))
		return
	}
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

	// Streaming: headers go out with the first event, so that a request
	// refused before the run starts still gets a plain JSON error.
	flusher, _ := w.(http.Flusher)
	seq := 0
	emit := func(ev engram.StreamEvent) {
		if seq == 0 {
			h := w.Header()
			h.Set("Content-Type", "text/event-stream")
			h.Set("Cache-Control", "no-cache")
			h.Set("Connection", "keep-alive")
			h.Set("X-Accel-Buffering", "no")
			w.WriteHeader(http.StatusOK)
		}
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Type, openai.EncodeEvent(seq, ev))
		seq++
		if flusher != nil {
			flusher.Flush()
		}
	}
	_, err = s.Responses.CreateResponse(r.Context(), pid, req, emit)
	if err != nil && seq == 0 {
		s.fail(w, r, err)
	}
	// A failure after the stream began was sent as response.failed.
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
	if r.URL.Query().Get("stream") == "true" {
		s.fail(w, r, engram.ParamErrorf(engram.EUnsupported, "stream", "Resuming a response's stream is not available in this version of Engram."))
		return
	}
	resp, err := s.response(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, openai.EncodeResponse(resp))
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
