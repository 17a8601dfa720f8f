package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
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
		slow: time.Second}
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

	// Kill replica-0 as soon as it is mid-call on some runs (each call
	// takes a second, so it still is when the kill lands).
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// A loaded machine (CI runs every package at once, under -race) may be
	// slow to start the runs: wait as long as a client would.
	for deadline := time.Now().Add(60 * time.Second); ; {
		var held int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM responses WHERE status = 'in_progress' AND lease_owner LIKE 'replica-0/%'`).Scan(&held); err != nil {
			t.Fatal(err)
		}
		if held > 0 {
			break
		}
		if time.Now().After(deadline) {
			var states string
			_ = conn.QueryRow(ctx, `SELECT string_agg(status || ' ' || coalesce(lease_owner, '') || ' ' || n, ', ') FROM
				(SELECT status, split_part(lease_owner, '/', 1) AS lease_owner, count(*) AS n FROM responses GROUP BY 1, 2) s`).Scan(&states)
			t.Fatalf("replica-0 took no run in 60s; responses by status and owner: %s\nreplica-0's log:\n%s", states, nodes[0].logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	nodes[0].kill()
	killed := time.Now()

	// What replica-0 held when it died: nobody else may take these until
	// their leases pass.
	rows, err := conn.Query(ctx, `SELECT id FROM responses WHERE status = 'in_progress' AND lease_owner LIKE 'replica-0/%'`)
	if err != nil {
		t.Fatal(err)
	}
	orphanIDs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	orphans := len(orphanIDs)
	if orphans == 0 {
		t.Fatal("replica-0 held no run when it was killed: the test proves nothing (make the tool slower)")
	}
	var held []sent
	for _, s := range all {
		if slices.Contains(orphanIDs, s.id) {
			held = append(held, s)
		}
	}

	// The dead replica's runs finish on the others within the lease
	// timeout and a tool call; then every other run.
	logs := func() string { return nodes[1].logs.String() + nodes[2].logs.String() }
	waitTerminal(t, apis[1], held, 10*time.Second, logs)
	tookOrphans := time.Since(killed)
	status := waitTerminal(t, apis[1], all, 5*lease+10*time.Second, logs)
	took := time.Since(killed)
	if took > 10*time.Second {
		t.Errorf("the runs took %v after the kill to finish; want within 10s (lease %v)", took.Round(time.Millisecond), lease)
	}
	turns, retried := checkTurnsWhole(t, apis[2], convs, all, fx)

	t.Logf("failover: %d background responses on 3 replicas; replica-0 killed holding %d runs, which completed on the others %v after the kill; all %d completed %v after it (lease %v); %d turns whole; %d effects applied once each, %d repeated deliveries answered from the idempotency key",
		len(all), orphans, tookOrphans.Round(time.Millisecond), len(status), took.Round(time.Millisecond), lease, turns, len(fx.applied), retried)
}

// TestStreamAcrossReplicas follows a run from a replica that does not
// execute it, kills that replica mid-stream, and resumes the stream on
// another with starting_after: the client sees every event once, in order,
// to the end.
func TestStreamAcrossReplicas(t *testing.T) {
	dbURL := pgtest.Database(t)
	fx := &effects{applied: map[string]int{}, deliveries: map[string]int{}, keysOf: map[string]map[string]bool{}, answers: map[string]string{},
		slow: 1500 * time.Millisecond}
	tool := httptest.NewServer(fx)
	defer tool.Close()
	const key = "sk-engram-stream-replica-key-01"
	nodes := startReplicas(t, 3, dbURL, key)
	apis := make([]*testServer, len(nodes))
	for i, n := range nodes {
		apis[i] = &testServer{URL: n.url, AdminKey: key}
	}
	agent := fmt.Sprintf(`{"name":"worker","model":"scripted/echo","tools":[{"type":"http","name":"effect","url":%q,"idempotent":true}]}`, tool.URL)
	if code := apis[0].call(t, "POST", "/v1/agents", agent, nil); code != 200 {
		t.Fatalf("create agent: %d", code)
	}
	var r struct{ ID string }
	if code := apis[0].call(t, "POST", "/v1/responses", `{"model":"agent/worker","background":true,"input":"call effect {\"n\":1}"}`, &r); code != 200 {
		t.Fatalf("create response: %d", code)
	}

	// Find the replica running it, and follow it from another.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// A loaded machine (CI runs every package at once, under -race) may take
	// a while to claim it: wait as long as a client would.
	owner := -1
	var status, lease string
	for deadline := time.Now().Add(30 * time.Second); owner < 0 && time.Now().Before(deadline); {
		if err := conn.QueryRow(ctx, `SELECT status, lease_owner FROM responses WHERE id = $1`, r.ID).Scan(&status, &lease); err != nil {
			t.Fatal(err)
		}
		if lease != "" {
			fmt.Sscanf(lease, "replica-%d/", &owner)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if owner < 0 {
		t.Fatalf("no replica claimed the run in 30s (status %s, lease %q):\n%s%s%s", status, lease, nodes[0].logs.String(), nodes[1].logs.String(), nodes[2].logs.String())
	}
	follower, third := (owner+1)%3, (owner+2)%3

	type event struct {
		Type string `json:"type"`
		Seq  int    `json:"sequence_number"`
	}
	var got []event
	follow := func(api *testServer, after int, stopAfter int) (ended bool) {
		t.Helper()
		url := fmt.Sprintf("%s/v1/responses/%s?stream=true", api.URL, r.ID)
		if after >= 0 {
			url += fmt.Sprintf("&starting_after=%d", after)
		}
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		n := 0
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var ev event
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				t.Fatalf("event %q: %v", data, err)
			}
			got = append(got, ev)
			n++
			if ev.Type == "response.completed" {
				return true
			}
			if n == stopAfter {
				return false
			}
		}
		return false
	}
	// Read the first events (the run is now in its slow tool call), then
	// the follower dies.
	if follow(apis[follower], -1, 3) {
		t.Fatal("the run ended before the follower was killed")
	}
	nodes[follower].kill()
	if !follow(apis[third], got[len(got)-1].Seq, 0) {
		t.Fatalf("the stream resumed on replica-%d did not reach response.completed: %v", third, got)
	}
	deltas := 0
	for i, ev := range got {
		if ev.Seq != i {
			t.Fatalf("event %d has sequence_number %d: %v", i, ev.Seq, got)
		}
		if ev.Type == "response.output_text.delta" {
			deltas++
		}
	}
	if deltas == 0 {
		t.Errorf("no text deltas crossed replicas: %v", got)
	}
	t.Logf("run on replica-%d followed from replica-%d (killed after %d events) and replica-%d: %d events in order, %d deltas", owner, follower, 3, third, len(got), deltas)
}

// TestSchedulesFireOnceAcrossReplicas makes schedules due while three
// replicas' schedulers look for them: each fires exactly once.
func TestSchedulesFireOnceAcrossReplicas(t *testing.T) {
	const schedules = 12
	dbURL := pgtest.Database(t)
	const key = "sk-engram-schedule-replica-key1"
	nodes := startReplicas(t, 3, dbURL, key)
	api := &testServer{URL: nodes[0].url, AdminKey: key}
	if code := api.call(t, "POST", "/v1/agents", `{"name":"clock","model":"scripted/echo"}`, nil); code != 200 {
		t.Fatalf("create agent: %d", code)
	}
	for i := range schedules {
		body := fmt.Sprintf(`{"agent":"clock","cron":"0 9 1 1 *","timezone":"UTC","input":"tick %d"}`, i)
		if code := api.call(t, "POST", "/v1/schedules", body, nil); code != 200 {
			t.Fatalf("create schedule: %d", code)
		}
	}
	// Make every schedule due now (its cron would next fire in January).
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	now := time.Now().Unix()
	if _, err := conn.Exec(ctx, `UPDATE schedules SET next_fire_at = $1`, now); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var fired int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM schedules WHERE last_fire_at >= $1 AND last_response_id <> ''`, now).Scan(&fired); err != nil {
			t.Fatal(err)
		}
		if fired == schedules {
			break
		}
		if time.Now().After(deadline) {
			rows, _ := conn.Query(ctx, `SELECT id, next_fire_at, last_fire_at, last_response_id, last_error FROM schedules`)
			table, _ := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
				var id, resp, msg string
				var next, last int64
				err := r.Scan(&id, &next, &last, &resp, &msg)
				return fmt.Sprintf("%s next=%d last=%d resp=%q err=%q", id, next, last, resp, msg), err
			})
			t.Fatalf("%d of %d schedules fired (due at %d):\n%s\n%s", fired, schedules, now, strings.Join(table, "\n"), nodes[0].logs.String()+nodes[1].logs.String()+nodes[2].logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // time for a duplicate fire to show
	var responses, distinct int
	if err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT conversation_id) FROM responses`).Scan(&responses, &distinct); err != nil {
		t.Fatal(err)
	}
	if responses != schedules {
		t.Errorf("%d responses started for %d schedules due once", responses, schedules)
	}
	t.Logf("%d schedules due at once on 3 replicas: %d responses started", schedules, responses)
}

// TestReplicaNodeIDsAreUnique: a second server claiming a node id a live
// one holds on the same database refuses to start (it would free the
// other's run leases), and says why.
func TestReplicaNodeIDsAreUnique(t *testing.T) {
	dbURL := pgtest.Database(t)
	startEngram(t, map[string]string{"ENGRAM_DATABASE_URL": dbURL, "ENGRAM_NODE_ID": "twin"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	vars := map[string]string{"ENGRAM_DATABASE_URL": dbURL, "ENGRAM_NODE_ID": "twin", "ENGRAM_ADDR": addr, "ENGRAM_DATA": t.TempDir(),
		"ENGRAM_ADMIN_KEY": "sk-engram-test-admin-key-0001", "ENGRAM_LOG_LEVEL": "error"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out lockedBuffer
	err = run(ctx, []string{"serve"}, func(k string) string { return vars[k] }, strings.NewReader(""), &out, &out)
	if err == nil || !strings.Contains(err.Error(), `another Engram process runs as node "twin"`) {
		t.Fatalf("a second server as node twin: %v\n%s", err, out.String())
	}
	// Another id starts.
	startEngram(t, map[string]string{"ENGRAM_DATABASE_URL": dbURL, "ENGRAM_NODE_ID": "other", "ENGRAM_LOG_LEVEL": "debug"})
}
