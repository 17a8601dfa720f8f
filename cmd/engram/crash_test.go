package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/engram-run/engram/internal/pgtest"
)

// TestMain lets the crash test run `engram serve` as a child process it
// can kill with SIGKILL: the test binary serves when told to.
func TestMain(m *testing.M) {
	if os.Getenv("ENGRAM_TEST_CHILD_SERVE") == "1" {
		if err := run(context.Background(), []string{"serve"}, os.Getenv, strings.NewReader(""), os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// effects is an HTTP tool with a side effect: it applies each idempotency
// key's effect once, answering a repeated key with the first answer, and
// counts what it saw.
type effects struct {
	mu         sync.Mutex
	applied    map[string]int             // idempotency key → times applied
	deliveries map[string]int             // idempotency key → requests
	keysOf     map[string]map[string]bool // response/call → keys used
	answers    map[string]string          // idempotency key → answer
	slow       time.Duration              // added to each call, so that runs are mid-call when a node dies
}

func (e *effects) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	call := r.Header.Get("Engram-Response-Id") + "/" + r.Header.Get("Engram-Call-Id")
	body, _ := io.ReadAll(r.Body)
	// Work takes a while, so that kills land while calls are in flight.
	time.Sleep(e.slow + time.Duration(2+rand.IntN(15))*time.Millisecond)
	e.mu.Lock()
	defer e.mu.Unlock()
	if key == "" {
		http.Error(w, "no Idempotency-Key", http.StatusBadRequest)
		return
	}
	e.deliveries[key]++
	if e.keysOf[call] == nil {
		e.keysOf[call] = map[string]bool{}
	}
	e.keysOf[call][key] = true
	if a, ok := e.answers[key]; ok {
		fmt.Fprint(w, a)
		return
	}
	e.applied[key]++
	e.answers[key] = fmt.Sprintf(`{"applied":%s}`, body)
	fmt.Fprint(w, e.answers[key])
}

// child is `engram serve` in a process of its own.
type child struct {
	cmd  *exec.Cmd
	url  string
	logs *lockedBuffer
}

func startChild(t *testing.T, env []string, addr string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	logs := &lockedBuffer{}
	cmd.Env = append(os.Environ(), env...)
	cmd.Env = append(cmd.Env, "ENGRAM_TEST_CHILD_SERVE=1", "ENGRAM_ADDR="+addr)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, url: "http://" + addr, logs: logs}
	t.Cleanup(func() { c.kill() })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(c.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.kill()
	t.Fatalf("engram serve (child) not ready:\n%s", logs.String())
	return nil
}

func (c *child) kill() {
	if c.cmd.ProcessState == nil {
		c.cmd.Process.Signal(syscall.SIGKILL)
		c.cmd.Wait()
	}
}

// TestCrashRecovery drives background responses that call a side-effecting
// HTTP tool, kills the server with SIGKILL at random moments and restarts
// it, and checks that every response ends, every conversation holds each
// turn exactly once, and no effect was applied twice.
func TestCrashRecovery(t *testing.T) {
	const (
		conversations = 20
		perKill       = 10
		kills         = 20
	)
	fx := &effects{applied: map[string]int{}, deliveries: map[string]int{}, keysOf: map[string]map[string]bool{}, answers: map[string]string{}}
	tool := httptest.NewServer(fx)
	defer tool.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	const key = "sk-engram-crash-test-key-0001"
	env := []string{"ENGRAM_DATA=" + t.TempDir(), "ENGRAM_ADMIN_KEY=" + key, "ENGRAM_LOG_LEVEL=error", "ENGRAM_LEASE=1s"}
	srv := startChild(t, env, addr)
	api := &testServer{URL: srv.url, AdminKey: key}

	agent := fmt.Sprintf(`{"name":"worker","model":"scripted/echo","tools":[{"type":"http","name":"effect","url":%q,"idempotent":true}]}`, tool.URL)
	if code := api.call(t, "POST", "/v1/agents", agent, nil); code != 200 {
		t.Fatalf("create agent: %d", code)
	}
	convs := make([]string, conversations)
	for i := range convs {
		var c struct{ ID string }
		if code := api.call(t, "POST", "/v1/conversations", `{}`, &c); code != 200 {
			t.Fatalf("create conversation: %d", code)
		}
		convs[i] = c.ID
	}

	start := time.Now()
	var all []sent
	for k := 0; k < kills; k++ {
		for j := 0; j < perKill; j++ {
			n := len(all)
			conv := convs[rand.IntN(conversations)]
			input := fmt.Sprintf(`call effect {"n":%d}`, n)
			body, _ := json.Marshal(map[string]any{"model": "agent/worker", "conversation": conv, "background": true, "input": input})
			var r struct{ ID, Status string }
			if code := api.call(t, "POST", "/v1/responses", string(body), &r); code != 200 {
				t.Fatalf("create response %d: status %d", n, code)
			}
			all = append(all, sent{r.ID, conv, input})
		}
		time.Sleep(time.Duration(rand.IntN(120)) * time.Millisecond)
		srv.kill()
		srv = startChild(t, env, addr)
	}
	killedAt := time.Since(start)

	status := waitTerminal(t, api, all, 90*time.Second, srv.logs.String)
	turns, retried := checkTurnsWhole(t, api, convs, all, fx)
	t.Logf("crash test: %d background responses over %d conversations, %d SIGKILLs in %v; all %d ended completed; %d turns whole in their logs; %d effects applied once each, %d repeated deliveries answered from the idempotency key",
		len(all), conversations, kills, killedAt.Round(time.Millisecond), len(status), turns, len(fx.applied), retried)
}

// sent is a background response a crash test created.
type sent struct{ id, conv, input string }

// waitTerminal waits until every response has ended, and fails the test
// for any that did not complete.
func waitTerminal(t *testing.T, api *testServer, all []sent, within time.Duration, logs func() string) map[string]string {
	t.Helper()
	deadline := time.Now().Add(within)
	status := map[string]string{}
	for _, s := range all {
		for {
			var r struct{ Status string }
			api.call(t, "GET", "/v1/responses/"+s.id, "", &r)
			if r.Status == "completed" || r.Status == "failed" || r.Status == "cancelled" || r.Status == "incomplete" {
				status[s.id] = r.Status
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("response %s still %s after the crashes\n%s", s.id, r.Status, logs())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for id, st := range status {
		if st != "completed" {
			t.Errorf("response %s ended %s", id, st)
		}
	}
	return status
}

// checkTurnsWhole checks that every conversation holds each of its turns
// exactly once and whole (input, tool call, tool output, answer), and that
// the tool's effects were applied once each under one idempotency key per
// call. It returns the turns seen and the repeated deliveries answered from
// the idempotency key.
func checkTurnsWhole(t *testing.T, api *testServer, convs []string, all []sent, fx *effects) (turns, retried int) {
	t.Helper()
	// Each conversation holds each of its turns exactly once, whole.
	type item struct {
		ID, Type, Role, CallID, Output string
		Content                        []struct{ Text string }
	}
	for _, conv := range convs {
		var items []item
		after := ""
		for {
			var page struct {
				Data    []item
				HasMore bool `json:"has_more"`
			}
			api.call(t, "GET", "/v1/conversations/"+conv+"/items?order=asc&limit=100&after="+after, "", &page)
			items = append(items, page.Data...)
			if !page.HasMore || len(page.Data) == 0 {
				break
			}
			after = page.Data[len(page.Data)-1].ID
		}
		seen := map[string]bool{}
		for _, it := range items {
			if seen[it.ID] {
				t.Errorf("conversation %s: item %s twice", conv, it.ID)
			}
			seen[it.ID] = true
		}
		want := 0
		for _, s := range all {
			if s.conv == conv {
				want++
			}
		}
		// Every turn is: input, function_call, function_call_output, answer.
		if len(items) != 4*want {
			t.Errorf("conversation %s: %d items for %d turns, want %d", conv, len(items), want, 4*want)
			continue
		}
		for i := 0; i < len(items); i += 4 {
			in, call, out, answer := items[i], items[i+1], items[i+2], items[i+3]
			if in.Role != "user" || call.Type != "function_call" || out.Type != "function_call_output" || out.CallID != call.CallID ||
				answer.Type != "message" || len(answer.Content) != 1 || !strings.HasPrefix(answer.Content[0].Text, "tool said: ") {
				t.Errorf("conversation %s: turn at %d is not whole: %+v %+v %+v %+v", conv, i, in, call, out, answer)
			}
			turns++
		}
	}

	// No effect applied twice, and every call used one key.
	fx.mu.Lock()
	defer fx.mu.Unlock()
	for k, n := range fx.applied {
		if n != 1 {
			t.Errorf("effect %s applied %d times", k, n)
		}
		retried += fx.deliveries[k] - 1
	}
	for call, keys := range fx.keysOf {
		if len(keys) != 1 {
			t.Errorf("call %s used %d idempotency keys", call, len(keys))
		}
	}
	if len(fx.applied) != len(all) {
		t.Errorf("%d effects applied for %d responses", len(fx.applied), len(all))
	}
	return turns, retried
}
