package http

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/http/openai"
	"github.com/engram-run/engram/tokens"
)

// createChatCompletion serves OpenAI's Chat Completions as a stateless
// gateway: the request becomes one model call to the provider its model
// names, and nothing is stored (no conversation, no response, no usage
// record), as a client of this API expects of it. State lives in
// /v1/responses.
func (s *Server) createChatCompletion(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	req, err := openai.DecodeChatRequest(body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	user, err := boundUser(r, req.User)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	prov, mreq, err := s.chatCall(r.Context(), keyOf(r).ProjectID, req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	mreq.User = user
	id := "chatcmpl-" + strings.TrimPrefix(engram.NewID("c"), "c_")
	created := engram.Now()

	// The call ends with the request: a client that goes away cancels it
	// (r.Context), and so does a stream nobody can be written to any more.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if !req.Stream {
		res, err := prov.Generate(ctx, mreq, nil)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, openai.EncodeChatCompletion(id, req.Model, created, res, chatUsage(mreq, res)))
		return
	}
	cs := &openai.ChatStream{ID: id, Model: req.Model, Created: created, IncludeUsage: req.IncludeUsage}
	out := &chunkWriter{w: w, cancel: cancel}
	out.flusher, _ = w.(http.Flusher)
	res, err := prov.Generate(ctx, mreq, func(ev engram.ModelEvent) { out.send(cs.Event(ev)) })
	switch {
	case err != nil && !cs.Started():
		s.fail(w, r, err) // nothing sent yet: a plain error with its status
	case err != nil:
		if r.Context().Err() == nil && out.err == nil {
			out.sendError(s, r, err)
		}
	default:
		out.send(cs.Finish(res, chatUsage(mreq, res)))
		out.write([]byte("data: [DONE]\n\n"))
	}
}

// chatCall resolves the request's model (a provider's model, or an agent's:
// its model, instructions and temperature; not its memory or tools, which
// need the state this endpoint does not keep) into the provider and the
// call to make.
func (s *Server) chatCall(ctx context.Context, projectID string, req *openai.ChatRequest) (engram.Provider, *engram.ModelRequest, error) {
	if s.Providers == nil {
		return nil, nil, engram.Errorf(engram.EUnavailable, "No model providers are configured on this server.")
	}
	model, instructions, temperature := req.Model, req.Instructions, req.Temperature
	if name, ok := strings.CutPrefix(model, "agent/"); ok {
		a, err := s.Store.GetAgent(ctx, projectID, name, 0)
		if err != nil {
			if engram.ErrorCode(err) == engram.ENotFound {
				return nil, nil, modelNotFound(req.Model)
			}
			return nil, nil, err
		}
		model = a.Model
		if a.Instructions != "" && instructions != "" {
			instructions = a.Instructions + "\n\n" + instructions
		} else if a.Instructions != "" {
			instructions = a.Instructions
		}
		if temperature == nil {
			temperature = a.Temperature
		}
	}
	prov, name, err := s.Providers.Resolve(model)
	if err != nil {
		return nil, nil, err
	}
	tokens.Stamp(req.Input)
	return prov, &engram.ModelRequest{Model: name, Instructions: instructions, Input: req.Input, Tools: req.Tools,
		ToolChoice: req.ToolChoice, Temperature: temperature, TopP: req.TopP, MaxOutputTokens: req.MaxTokens,
		CacheKey: req.CacheKey}, nil
}

// chatUsage is the provider's usage, or, when it reported none (local
// servers may not), the offline count of what was sent and answered.
func chatUsage(req *engram.ModelRequest, res *engram.ModelResult) engram.Usage {
	u := res.Usage
	if u.InputTokens == 0 && u.OutputTokens == 0 {
		u.InputTokens = tokens.Stable(req.Instructions) + tokens.Tools(req.Tools) + tokens.Items(req.Input)
		u.OutputTokens = tokens.Items(res.Output)
		u.Estimated = true
	}
	if u.TotalTokens == 0 {
		u.TotalTokens = u.InputTokens + u.OutputTokens
	}
	return u
}

func modelNotFound(model string) error {
	return engram.ParamErrorf(engram.ENotFound, "model", "The model '%s' does not exist or you do not have access to it.", model)
}

// chunkWriter writes Chat Completions' stream: bare `data:` lines, no
// event names. Headers go out with the first chunk, so a call refused
// before its first event still gets a plain JSON error.
type chunkWriter struct {
	w       http.ResponseWriter
	flusher http.Flusher
	cancel  context.CancelFunc
	started bool
	err     error
}

func (c *chunkWriter) send(chunks [][]byte) {
	for _, ch := range chunks {
		c.write(fmt.Appendf(nil, "data: %s\n\n", ch))
	}
}

func (c *chunkWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	if !c.started {
		c.started = true
		h := c.w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("Connection", "keep-alive")
		h.Set("X-Accel-Buffering", "no")
		c.w.WriteHeader(http.StatusOK)
	}
	if _, err := c.w.Write(b); err != nil {
		c.err = err
		c.cancel() // nobody reads the answer: stop paying for it
		return
	}
	if c.flusher != nil {
		c.flusher.Flush()
	}
}

// sendError ends a stream that already began with an error chunk, as
// OpenAI does; clients raise it (openai-go: "received error while
// streaming"). No [DONE] follows: the answer is not complete.
func (c *chunkWriter) sendError(s *Server, r *http.Request, err error) {
	obj := s.errorObject(r, err)
	b, _ := json.Marshal(openai.ErrorBody{Error: obj})
	c.write(fmt.Appendf(nil, "data: %s\n\n", b))
}
