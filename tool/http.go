package tool

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/engram-run/engram"
)

// maxHTTPToolAnswer bounds what an HTTP tool's answer may put in front of
// the model.
const maxHTTPToolAnswer = 256 << 10

// HTTP is a tool an agent or request declares with a URL: the runtime
// POSTs the model's arguments to it as JSON, with an Idempotency-Key header
// stable across retries of the same call, and the model reads the answer's
// body. A 4xx answer is shown to the model (its arguments were refused); a
// 5xx, a timeout or a refused connection fails the call.
type HTTP struct {
	Def    engram.ToolSpec
	Client *http.Client // nil: a client with a 30 s timeout
}

var defaultHTTPToolClient = &http.Client{Timeout: 30 * time.Second}

// Spec implements engram.Tool.
func (h *HTTP) Spec() engram.ToolSpec { return h.Def }

// Call implements engram.Tool.
func (h *HTTP) Call(ctx context.Context, call engram.ToolCall) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.Def.URL, bytes.NewReader(call.Arguments))
	if err != nil {
		return "", engram.Errorf(engram.EInternal, "tool %s: %v", h.Def.Name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", call.IdempotencyKey)
	req.Header.Set("Engram-Response-Id", call.ResponseID)
	req.Header.Set("Engram-Call-Id", call.CallID)
	if call.User != "" {
		req.Header.Set("Engram-User", call.User)
	}
	for k, v := range h.Def.Headers {
		req.Header.Set(k, v)
	}
	client := h.Client
	if client == nil {
		client = defaultHTTPToolClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", engram.Errorf(engram.EUpstream, "tool %s: %v", h.Def.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHTTPToolAnswer+1))
	if err != nil {
		return "", engram.Errorf(engram.EUpstream, "tool %s: reading the answer: %v", h.Def.Name, err)
	}
	if len(body) > maxHTTPToolAnswer {
		return "", engram.Errorf(engram.EUpstream, "tool %s: the answer is over %d bytes", h.Def.Name, maxHTTPToolAnswer)
	}
	switch {
	case resp.StatusCode >= 500:
		return "", engram.Errorf(engram.EUpstream, "tool %s: %s: %s", h.Def.Name, resp.Status, truncate(body, 200))
	case resp.StatusCode >= 400:
		return "", engram.Errorf(engram.EInvalid, "%s: %s", resp.Status, truncate(body, 2000))
	}
	return string(body), nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return fmt.Sprintf("%s…", b[:n])
	}
	return string(b)
}
