package postgres

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/engram-run/engram"
)

// TestPurgeRacesWriters: replicas purge a project while others append to
// and fork its idle conversations. Whatever the order, a conversation a
// writer reached stays whole, and one the purge reached is gone whole: no
// append lands in a purged log and no fork loses its parent.
func TestPurgeRacesWriters(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	defer db.Close()
	p := &engram.Project{ID: engram.NewID("proj"), Name: "p", CreatedAt: engram.Now()}
	if err := db.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	const n = 60
	now := engram.Now()
	convs := make([]*engram.Conversation, n)
	for i := range convs {
		convs[i] = &engram.Conversation{ID: engram.NewID("conv"), ProjectID: p.ID, CreatedAt: now - 40*86400}
		if err := db.CreateConversation(ctx, convs[i], nil); err != nil {
			t.Fatal(err)
		}
	}
	// Idle for 40 days under a 30-day policy; a write moves a conversation
	// past the cutoff.
	purge := engram.Purge{ProjectID: p.ID, Kind: engram.PurgeConversations, Policy: engram.Retention{ConversationsDays: 30},
		Now: now + 30*86400 - 1, Limit: 5}
	reached := make([]bool, n) // a writer's change committed
	forks := make([]*engram.Conversation, n)
	var wg sync.WaitGroup
	for r := 0; r < 3; r++ {
		wg.Go(func() {
			for {
				res, err := db.Purge(ctx, purge)
				if err != nil {
					t.Error(err)
					return
				}
				if res.Rows == 0 {
					return
				}
			}
		})
	}
	for i := range convs {
		wg.Go(func() {
			if i%2 == 0 {
				err := db.AppendItems(ctx, p.ID, convs[i].ID, []*engram.Item{{Type: engram.ItemMessage, Role: "user",
					Content: []engram.Content{{Type: engram.ContentInputText, Text: "still here"}}, Tokens: 1}})
				reached[i] = err == nil
				if err != nil && engram.ErrorCode(err) != engram.ENotFound {
					t.Error(err)
				}
				return
			}
			f := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: p.ID, ForkOf: convs[i].ID}
			err := db.ForkConversation(ctx, f)
			reached[i], forks[i] = err == nil, f
			if err != nil && engram.ErrorCode(err) != engram.ENotFound {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// What a fork reached is kept as long as its fork is; purge the
	// leftovers, then look.
	for {
		res, err := db.Purge(ctx, purge)
		if err != nil {
			t.Fatal(err)
		}
		if res.Rows == 0 {
			break
		}
	}
	kept := 0
	for i, c := range convs {
		_, err := db.GetConversation(ctx, p.ID, c.ID)
		switch {
		case reached[i] && err != nil:
			t.Errorf("conversation %d: a writer reached it, then it was purged: %v", i, err)
		case !reached[i] && engram.ErrorCode(err) != engram.ENotFound:
			t.Errorf("conversation %d: no writer reached it, yet it was kept (%v)", i, err)
		}
		if reached[i] {
			kept++
		}
		if i%2 == 0 && reached[i] {
			items, _, err := db.ListItems(ctx, p.ID, c.ID, engram.Page{})
			if err != nil || len(items) != 1 {
				t.Errorf("conversation %d keeps %d items (%v), want its append", i, len(items), err)
			}
		}
		if i%2 == 1 && reached[i] {
			if _, err := db.RecentItems(ctx, p.ID, forks[i].ID, 0, 10, 0); err != nil {
				t.Errorf("fork %d cannot read its history: %v", i, err)
			}
		}
	}
	var orphans int
	if err := db.pool.QueryRow(ctx, `SELECT COUNT(*) FROM items i WHERE NOT EXISTS (SELECT 1 FROM conversations c WHERE c.id = i.conversation_id)`).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 {
		t.Errorf("%d items outlive their conversation", orphans)
	}
	t.Logf("%d of %d conversations reached by a writer first", kept, n)
}

// BenchmarkPurge measures a purge of whole conversations, as sqlite's
// does: 1000 conversations of 100 searchable messages, about 101,000 rows,
// in batches of 1000 rows.
func BenchmarkPurge(b *testing.B) {
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		db := openTemp(b)
		p := &engram.Project{ID: engram.NewID("proj"), Name: "p", CreatedAt: engram.Now()}
		if err := db.CreateProject(ctx, p); err != nil {
			b.Fatal(err)
		}
		for i := range 1000 {
			log := make([]*engram.Item, 100)
			for j := range log {
				log[j] = &engram.Item{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: fmt.Sprintf("message %d of conversation %d about bees", j, i)}}, Tokens: 5}
			}
			if err := db.CreateConversation(ctx, &engram.Conversation{ID: engram.NewID("conv"), ProjectID: p.ID, AgentID: fmt.Sprintf("agent_%d", i%3)}, log); err != nil {
				b.Fatal(err)
			}
		}
		purge := engram.Purge{ProjectID: p.ID, Kind: engram.PurgeConversations, Policy: engram.Retention{ConversationsDays: 1}, Now: engram.Now() + 2*86400, Limit: 1000}
		b.StartTimer()
		start := time.Now()
		var rows int64
		var took []time.Duration
		for {
			t0 := time.Now()
			res, err := db.Purge(ctx, purge)
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
}
