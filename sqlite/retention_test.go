package sqlite

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/engram-run/engram"
)

// fillForPurge stores conversations of items (searchable messages), each
// with a finished run with steps and events, and returns the project.
func fillForPurge(t testing.TB, db *DB, conversations, items int) string {
	ctx := context.Background()
	p := &engram.Project{ID: engram.NewID("proj"), Name: "p", CreatedAt: engram.Now()}
	if err := db.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	for i := range conversations {
		c := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: p.ID, AgentID: fmt.Sprintf("agent_%d", i%3), User: "ada"}
		log := make([]*engram.Item, items)
		for j := range log {
			log[j] = &engram.Item{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: fmt.Sprintf("message %d of conversation %d about bees", j, i)}}, Tokens: 5}
		}
		if err := db.CreateConversation(ctx, c, log); err != nil {
			t.Fatal(err)
		}
		lease := engram.Lease{Owner: "w", Until: 1 << 60}
		r := &engram.Response{ID: engram.NewID("resp"), ProjectID: p.ID, ConversationID: c.ID, Model: "scripted/echo", Status: engram.StatusInProgress, Lease: lease, Metadata: map[string]string{}}
		if err := db.CreateResponse(ctx, r, []*engram.Item{{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: "go"}}}}); err != nil {
			t.Fatal(err)
		}
		step := &engram.Step{ResponseID: r.ID, ProjectID: p.ID, N: 1, Kind: engram.StepModel, Status: engram.StepCompleted}
		if err := db.SaveStep(ctx, step, lease, []engram.StoredEvent{{Seq: 0, Data: []byte(`{}`)}}); err != nil {
			t.Fatal(err)
		}
		r.Status = engram.StatusCompleted
		if err := db.FinishResponse(ctx, r, engram.RunEnd{Lease: lease, Events: []engram.StoredEvent{{Seq: 1, Data: []byte(`{}`)}}}); err != nil {
			t.Fatal(err)
		}
	}
	return p.ID
}

func countRows(t testing.TB, db *DB, table string) int {
	var n int
	if err := db.read.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPurgeDeletesRows: a purge leaves no row behind, in any table, the
// full-text index included; the log is written in the same transactions.
func TestPurgeDeletesRows(t *testing.T) {
	db := openTemp(t)
	defer db.Close()
	pid := fillForPurge(t, db, 6, 20)
	tables := []string{"conversations", "items", "items_fts_docsize", "responses", "steps", "response_events"}
	for _, table := range tables {
		if countRows(t, db, table) == 0 {
			t.Fatalf("%s is empty before the purge", table)
		}
	}
	p := engram.Purge{ProjectID: pid, Kind: engram.PurgeConversations, Policy: engram.Retention{ConversationsDays: 1},
		Now: engram.Now() + 2*86400, Limit: 7, Pass: "rpass_t"}
	var batches int
	var rows int64
	for {
		res, err := db.Purge(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		if res.Rows == 0 {
			break
		}
		batches++
		rows += res.Rows
	}
	for _, table := range tables {
		if n := countRows(t, db, table); n != 0 {
			t.Errorf("%s keeps %d rows after the purge", table, n)
		}
	}
	if batches < 6*21/7 {
		t.Errorf("%d batches of at most 7 rows for %d rows", batches, rows)
	}
	var logged int64
	if err := db.read.QueryRow(`SELECT SUM(rows) FROM retention_log WHERE pass = 'rpass_t'`).Scan(&logged); err != nil {
		t.Fatal(err)
	}
	if logged != rows {
		t.Errorf("the log counts %d rows, the batches %d", logged, rows)
	}
}

// TestPurgeQueryPlans: a purge's queries seek their indexes; none scans
// a table, so a batch costs what it deletes, not what the store holds.
func TestPurgeQueryPlans(t *testing.T) {
	db := openTemp(t)
	defer db.Close()
	fillForPurge(t, db, 1, 1)
	for _, q := range []string{
		`SELECT agent_id FROM conversations WHERE project_id = ? AND agent_id > ? ORDER BY agent_id LIMIT 1`,
		`SELECT agent_id FROM responses WHERE project_id = ? AND ended_at > 0 AND events_purged = 0 AND agent_id > ? ORDER BY agent_id LIMIT 1`,
		`SELECT id FROM conversations c WHERE project_id = ? AND agent_id = ? AND hidden = ? AND updated_at < ?
			AND NOT EXISTS (SELECT 1 FROM conversations f WHERE f.fork_of = c.id AND f.fork_of != '')
			AND NOT EXISTS (SELECT 1 FROM responses r WHERE r.conversation_id = c.id AND r.status IN ('queued', 'in_progress', 'requires_action'))
			ORDER BY updated_at LIMIT ?`,
		`SELECT id FROM responses WHERE project_id = ? AND agent_id = ? AND ended_at > 0 AND ended_at < ? ORDER BY ended_at LIMIT ?`,
		`SELECT id FROM responses WHERE project_id = ? AND agent_id = ? AND ended_at > 0 AND events_purged = 0 AND ended_at < ? ORDER BY ended_at LIMIT ?`,
		`SELECT id FROM responses WHERE conversation_id = ? LIMIT ?`,
	} {
		rows, err := db.read.Query(`EXPLAIN QUERY PLAN `+q, "p", "a", 0, 1, 1)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		t.Log(plan)
		for _, step := range plan {
			if strings.HasPrefix(step, "SCAN ") || strings.Contains(step, "TEMP B-TREE") {
				t.Errorf("%s\nplan: %v", q, plan)
			}
		}
	}
}

// BenchmarkPurge measures a purge of whole conversations: 1000
// conversations of 100 searchable messages and a run each, about 106,000
// rows, deleted in batches of 200 and of 1000 rows.
func BenchmarkPurge(b *testing.B) {
	for _, batch := range []int{200, 1000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				db := openTemp(b)
				pid := fillForPurge(b, db, 1000, 100)
				p := engram.Purge{ProjectID: pid, Kind: engram.PurgeConversations, Policy: engram.Retention{ConversationsDays: 1},
					Now: engram.Now() + 2*86400, Limit: batch}
				b.StartTimer()
				start := time.Now()
				var rows int64
				var took []time.Duration
				for {
					t0 := time.Now()
					res, err := db.Purge(context.Background(), p)
					if err != nil {
						b.Fatal(err)
					}
					took = append(took, time.Since(t0))
					if res.Rows == 0 {
						break
					}
					rows += res.Rows
				}
				b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
				slices.Sort(took)
				b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "ms/median-batch")
				b.ReportMetric(float64(took[len(took)-1].Microseconds())/1000, "ms/longest-batch")
				b.StopTimer()
				db.Close()
			}
		})
	}
}
