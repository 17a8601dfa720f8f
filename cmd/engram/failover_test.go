package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/engram-run/engram/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

// replicas starts n `engram serve` processes on one PostgreSQL database,
// each with its own node id (replica-0, replica-1, …) and port.
func startReplicas(t *testing.T, n int, dbURL, key string, extra ...string) []*child {
	t.Helper()
	out := make([]*child, n)
	for i := range out {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		env := append([]string{"ENGRAM_DATABASE_URL=" + dbURL, "ENGRAM_DATA=" + t.TempDir(), "ENGRAM_ADMIN_KEY=" + key,
			"ENGRAM_NODE_ID=" + fmt.Sprintf("replica-%d", i), "ENGRAM_LOG_LEVEL=error"}, extra...)
		out[i] = startChild(t, env, addr)
	}
	return out
}

// TestFailover runs three replicas on one PostgreSQL database, sends
// background responses that call a slow side-effecting tool to all three,
// kills one replica with SIGKILL while it holds runs mid-call, and checks
// that the others finish every run within the lease timeout: each turn
// once in its conversation, each effect applied once.
func TestFailover(t *testing.T) {
	const (
		conversations = 15
		responses     = 45
		lease         = 2 * time.Second
	)
	dbURL := pgtest.Database(t)
	fx := &effects{applied: map[string]int{}, deliveries: map[string]int{}, keysOf: map[string]map[string]bool{}, answers: map[string]string{},
		slow: 300 * time.Millisecond}
	tool := httptest.NewServer(fx)
	defer tool.Close()

	const key = "sk-engram-failover-test-key-01"
	nodes := startReplicas(t, 3, dbURL, key, "ENGRAM_LEASE="+lease.String())
	apis := make([]*testServer, len(nodes))
	for i, n := range nodes {
		apis[i] = &testServer{URL: n.url, AdminKey: key}
	}

	agent := fmt.Sprintf(`{"name":"worker","model":"scripted/echo","tools":[{"type":"http","name":"effect","url":%q,"idempotent":true}]}`, tool.URL)
	if code := apis[1].call(t, "POST", "/v1/agents", agent, nil); code != 200 {
		t.Fatalf("create agent: %d", code)
	}
	convs := make([]string, conversations)
	for i := range convs {
		var c struct{ ID string }
		if code := apis[i%3].call(t, "POST", "/v1/conversations", `{}`, &c); code != 200 {
			t.Fatalf("create conversation: %d", code)
		}
		convs[i] = c.ID
	}
	var all []sent
	for n := range responses {
		conv := convs[n%conversations]
		input := fmt.Sprintf(`call effect {"n":%d}`, n)
		body, _ := json.Marshal(map[string]any{"model": "agent/worker", "conversation": conv, "background": true, "input": input})
		var r struct{ ID, Status string }
		if code := apis[rand.IntN(3)].call(t, "POST", "/v1/responses", string(body), &r); code != 200 {
			t.Fatalf("create response %d: status %d", n, code)
		}
		all = append(all, sent{r.ID, conv, input})
	}

	// Kill replica-0 while it is mid-call on some runs.
	time.Sleep(500 * time.Millisecond)
	nodes[0].kill()
	killed := time.Now()

	// What replica-0 held when it died: nobody else may take these until
	// their leases pass.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var orphans int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM responses WHERE status = 'in_progress' AND lease_owner LIKE 'replica-0/%'`).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if orphans == 0 {
		t.Fatal("replica-0 held no run when it was killed: the test proves nothing (make the tool slower)")
	}

	logs := func() string { return nodes[1].logs.String() + nodes[2].logs.String() }
	status := waitTerminal(t, apis[1], all, 5*lease+10*time.Second, logs)
	took := time.Since(killed)
	if took > 10*time.Second {
		t.Errorf("the runs took %v after the kill to finish; want within 10s (lease %v)", took.Round(time.Millisecond), lease)
	}
	turns, retried := checkTurnsWhole(t, apis[2], convs, all, fx)

	t.Logf("failover: %d background responses on 3 replicas; replica-0 killed holding %d runs; all %d completed %v after the kill (lease %v); %d turns whole; %d effects applied once each, %d repeated deliveries answered from the idempotency key",
		len(all), orphans, len(status), took.Round(time.Millisecond), lease, turns, len(fx.applied), retried)
}
