package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engram-run/engram/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

// TestPostgresRestartUnderLoad drives turns through two replicas while
// their PostgreSQL (a private server of this test's own) is stopped and
// started again. Requests meanwhile fail with 503 and Retry-After, never
// another status; afterwards turns succeed again; and every conversation's
// log holds whole turns only: each input once, followed by its one answer.
func TestPostgresRestartUnderLoad(t *testing.T) {
	cluster, err := pgtest.NewCluster()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Remove)
	if err := cluster.Start(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, cluster.URL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE engram"); err != nil {
		t.Fatal(err)
	}
	admin.Close(ctx)
	dbURL := strings.Replace(cluster.URL(), "/postgres?", "/engram?", 1)

	const key = "sk-engram-pg-restart-test-key"
	nodes := startReplicas(t, 2, dbURL, key, "ENGRAM_LEASE=2s")
	apis := []*testServer{{URL: nodes[0].url, AdminKey: key}, {URL: nodes[1].url, AdminKey: key}}

	const clients = 8
	convs := make([]string, clients)
	for i := range convs {
		var c struct{ ID string }
		if code := apis[i%2].call(t, "POST", "/v1/conversations", `{}`, &c); code != 200 {
			t.Fatalf("create conversation: %d", code)
		}
		convs[i] = c.ID
	}

	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		bad      []string
		answered = map[string]int{} // input → 200s
		okAfter  int                // 200s after the restart
	)
	restarted := make(chan struct{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			api := apis[i%2]
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				input := fmt.Sprintf("client %d turn %d", i, n)
				body, _ := json.Marshal(map[string]any{"model": "scripted/echo", "conversation": convs[i], "input": input})
				req, _ := http.NewRequest("POST", api.URL+"/v1/responses", strings.NewReader(string(body)))
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					mu.Lock()
					bad = append(bad, "transport: "+err.Error())
					mu.Unlock()
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				switch resp.StatusCode {
				case 200:
					answered[input]++
					select {
					case <-restarted:
						okAfter++
					default:
					}
				case 503, 409:
					// 503: the database is away. 409: the previous turn
					// of this conversation is still resuming (the
					// conversation's concurrency policy rejects, or it
					// was left in progress by the outage).
					if resp.StatusCode == 503 && resp.Header.Get("Retry-After") == "" {
						bad = append(bad, "503 without Retry-After")
					}
					var e struct {
						Error struct{ Message, Type string }
					}
					if json.Unmarshal(b, &e) != nil || e.Error.Message == "" {
						bad = append(bad, fmt.Sprintf("%d without an OpenAI error body: %s", resp.StatusCode, b))
					}
				default:
					bad = append(bad, fmt.Sprintf("status %d: %s", resp.StatusCode, b))
				}
				mu.Unlock()
				if resp.StatusCode != 200 {
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}

	time.Sleep(1500 * time.Millisecond)
	if err := cluster.Stop("fast"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if err := cluster.Start(); err != nil {
		t.Fatal(err)
	}
	close(restarted)
	time.Sleep(2500 * time.Millisecond)
	close(stop)
	wg.Wait()

	for _, b := range bad {
		t.Error(b)
	}
	if statuses[503] == 0 {
		t.Errorf("no request failed while PostgreSQL was down (statuses %v): the test proves nothing", statuses)
	}
	if okAfter == 0 {
		t.Errorf("no turn succeeded after PostgreSQL came back (statuses %v)", statuses)
	}

	// Runs the outage interrupted resume once their leases pass.
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var active int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM responses WHERE status IN ('queued', 'in_progress')`).Scan(&active); err != nil {
			t.Fatal(err)
		}
		if active == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d responses still active 30s after the restart", active)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Every log is whole turns: a user message, then its one answer.
	turns := 0
	for _, conv := range convs {
		rows, err := conn.Query(ctx, `SELECT type, body FROM items WHERE conversation_id = $1 ORDER BY seq`, conv)
		if err != nil {
			t.Fatal(err)
		}
		var items []struct {
			Role    string
			Content []struct{ Text string }
		}
		for rows.Next() {
			var typ, body string
			if err := rows.Scan(&typ, &body); err != nil {
				t.Fatal(err)
			}
			var it struct {
				Role    string
				Content []struct{ Text string }
			}
			if err := json.Unmarshal([]byte(body), &it); err != nil {
				t.Fatal(err)
			}
			items = append(items, it)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for i := 0; i < len(items); i += 2 {
			if i+1 >= len(items) || items[i].Role != "user" || items[i+1].Role != "assistant" || len(items[i].Content) == 0 {
				t.Errorf("conversation %s: item %d does not start a whole turn", conv, i)
				break
			}
			seen[items[i].Content[0].Text]++
			turns++
		}
		for input, n := range seen {
			if n != 1 {
				t.Errorf("conversation %s: %q appears %d times", conv, input, n)
			}
		}
		for input := range answered {
			if strings.HasPrefix(input, fmt.Sprintf("client %d ", slices.Index(convs, conv))) && seen[input] != 1 {
				t.Errorf("conversation %s: %q was answered 200 but is in the log %d times", conv, input, seen[input])
			}
		}
	}
	t.Logf("PostgreSQL restart under load: statuses %v; %d turns after the restart; %d whole turns in %d logs", statuses, okAfter, turns, len(convs))
}
