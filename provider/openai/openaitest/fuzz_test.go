package openaitest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzServe sends arbitrary request bodies: the fake answers every one
// (an error or an echo) without panicking, whatever a test throws at it.
func FuzzServe(f *testing.F) {
	f.Add("/v1/responses", `{"model":"m","input":"hi","stream":true}`)
	f.Add("/v1/responses", `{"input":[{"role":"user","content":[{"type":"input_text","text":"a"}]}]}`)
	f.Add("/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`)
	f.Add("/v1/chat/completions", `{"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`)
	f.Add("/v1/responses", `{"input":7}`)
	f.Fuzz(func(t *testing.T, path, body string) {
		s := &Server{}
		req := httptest.NewRequest("POST", "/", strings.NewReader(body))
		req.URL.Path = path
		req.Header.Set("Authorization", "Bearer k")
		rec := httptest.NewRecorder()
		s.serve(rec, req)
		if rec.Code == http.StatusOK && rec.Body.Len() == 0 {
			t.Fatalf("empty 200 answer to %q %q", path, body)
		}
	})
}
