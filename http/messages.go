package http

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/http/anthropic"
)

// pingInterval is how often a quiet Messages stream gets a ping, as
// Anthropic sends them, so that proxies keep a long turn (server-side tool
// calls, a slow model) open.
var pingInterval = 15 * time.Second

// isMessagesRoute reports whether a route speaks Anthropic's Messages
// API: its key may come in x-api-key and its errors are Anthropic's.
func isMessagesRoute(pattern string) bool {
	return strings.HasPrefix(pattern, "POST /v1/messages")
}

// messagesRequest reads a Messages request: the body and the conversation
// header, and the end user the key acts for.
func (s *Server) messagesRequest(w http.ResponseWriter, r *http.Request,
	decode func([]byte, string) (*engram.ResponseRequest, error)) (*engram.ResponseRequest, error) {
	body, err := s.readBody(w, r)
	if err != nil {
		return nil, err
	}
	conv := strings.TrimSpace(r.Header.Get(anthropic.ConversationHeader))
	req, err := decode(body, conv)
	if err != nil {
		return nil, err
	}
	if req.User, err = boundUser(r, req.User); err != nil {
		return nil, err
	}
	k := keyOf(r)
	req.KeyID, req.KeyRole = k.ID, string(k.Role)
	return req, nil
}

// createMessage serves Anthropic's POST /v1/messages over the runtime:
// stateless by default, stateful with the x-engram-conversation header
// (see anthropic.DecodeRequest and docs/anthropic-messages.md).
func (s *Server) createMessage(w http.ResponseWriter, r *http.Request) {
	req, err := s.messagesRequest(w, r, anthropic.DecodeRequest)
	if err != nil {
		s.failMessages(w, r, err)
		return
	}
	if req.Conversation != "" {
		w.Header().Set(anthropic.ConversationHeader, req.Conversation)
	}
	pid := keyOf(r).ProjectID
	if !req.Stream {
		resp, err := s.Responses.CreateResponse(r.Context(), pid, req, nil)
		if err == nil && resp.Status == engram.StatusFailed {
			err = runFailure(resp)
		}
		if err != nil {
			s.failMessages(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, anthropic.EncodeMessage(resp))
		return
	}

	sse := newEventWriter(w)
	stream := anthropic.NewStream(func(event string, data []byte) error {
		return sse.send(engram.StoredEvent{Type: event, Data: data})
	})
	stop := make(chan struct{})
	pinged := make(chan struct{})
	go func() {
		defer close(pinged)
		t := time.NewTicker(pingInterval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				_ = stream.Ping()
			}
		}
	}()
	resp, err := s.Responses.CreateResponse(r.Context(), pid, req, func(ev engram.StoredEvent) { _ = stream.Event(ev) })
	close(stop)
	<-pinged
	if err == nil && resp != nil && resp.Status == engram.StatusFailed {
		err = runFailure(resp)
	}
	switch {
	case !stream.Started():
		if err == nil {
			err = engram.Errorf(engram.EInternal, "the run ended without a stream")
		}
		s.failMessages(w, r, err)
	case !stream.Ended() && r.Context().Err() == nil:
		// The run ended without a final event (the caller's context,
		// a lost lease): the stream still ends as Anthropic's do.
		if err == nil {
			err = engram.Errorf(engram.EInternal, "the run stopped before it ended")
		}
		status, msg := s.messagesError(r, err)
		_ = stream.Fail(anthropic.ErrorType(status), msg)
	}
}

// runFailure is a failed run as an error of its code's status.
func runFailure(resp *engram.Response) error {
	if resp.Error == nil {
		return engram.Errorf(engram.EInternal, "the run failed")
	}
	return &messagesFailure{status: anthropic.FailureStatus(resp.Error.Code), msg: resp.Error.Message}
}

// messagesFailure is a run's failure read back from the store, whose
// domain code is gone but whose status is known.
type messagesFailure struct {
	status int
	msg    string
}

func (f *messagesFailure) Error() string { return fmt.Sprintf("%d: %s", f.status, f.msg) }

// countMessageTokens serves Anthropic's POST /v1/messages/count_tokens:
// the input tokens of the request's first model call, as Engram's context
// engine builds it (with the conversation header, its log too).
func (s *Server) countMessageTokens(w http.ResponseWriter, r *http.Request) {
	req, err := s.messagesRequest(w, r, anthropic.DecodeCountRequest)
	if err != nil {
		s.failMessages(w, r, err)
		return
	}
	n, err := s.Responses.CountInputTokens(r.Context(), keyOf(r).ProjectID, req)
	if err != nil {
		s.failMessages(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"input_tokens": n})
}

// messagesError is the status and message of err for a Messages client:
// statusOf's mapping, except that an unavailable server is Anthropic's
// 529 overloaded. Errors without a domain code are logged and shown as
// internal.
func (s *Server) messagesError(r *http.Request, err error) (int, string) {
	var f *messagesFailure
	if errors.As(err, &f) {
		return f.status, f.msg
	}
	var e *engram.Error
	if !errors.As(err, &e) {
		s.Logger.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &engram.Error{Code: engram.EInternal, Message: "The server had an error while processing your request."}
	}
	status, _ := statusOf(e.Code)
	if e.Code == engram.EUnavailable {
		status = anthropic.StatusOverloaded
	}
	return status, e.Message
}

// failMessages writes err as Anthropic's error body.
func (s *Server) failMessages(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) {
		return // the caller went away
	}
	status, msg := s.messagesError(r, err)
	writeMessagesError(w, status, msg)
}

func writeMessagesError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, anthropic.ErrorBody{Type: "error", RequestID: w.Header().Get("X-Request-Id"),
		Error: anthropic.ErrorObject{Type: anthropic.ErrorType(status), Message: msg}})
}
