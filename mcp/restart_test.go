package mcp

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/engram-run/engram"
)

// TestHTTPServerRestart: an HTTP server that restarted no longer knows the
// session and refuses the call without acting on it (404): the call is made
// again, once, on a new session; so is a listing.
func TestHTTPServerRestart(t *testing.T) {
	var handler atomic.Pointer[http.Handler]
	start := func() {
		srv := newTestServer()
		var h http.Handler = sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return srv }, nil)
		handler.Store(&h)
	}
	start()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*handler.Load()).ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	conns := &mapConnectors{}
	cfg, _ := json.Marshal(Config{Transport: TransportHTTP, URL: ts.URL, AllowPrivate: true})
	conns.add(&engram.Connector{Name: "srv", Config: cfg}, nil)
	p, _ := newPool(t, conns)
	if out := mustCall(t, p, "", "srv__echo", `{"text":"a"}`); out != "echo: a" {
		t.Fatalf("echo = %q", out)
	}
	start() // the server restarts: its sessions are gone
	if out := mustCall(t, p, "", "srv__echo", `{"text":"b"}`); out != "echo: b" {
		t.Errorf("after the server restarted: %q", out)
	}
	// A listing is tried again on a new session too: a tool missing from
	// the cache makes the pool list, and the server's answer (it does not
	// have that tool) is what the model reads.
	start()
	if _, err := call(t, p, "", "srv__added_later", `{}`); engram.ErrorCode(err) != engram.EInvalid || !strings.Contains(err.Error(), "no longer offers") {
		t.Errorf("listing after a restart: err = %v, want EInvalid: no longer offers", err)
	}
}
