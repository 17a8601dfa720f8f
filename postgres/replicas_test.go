package postgres

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/internal/pgtest"
)

// Tests of several replicas on one database: each replica is its own
// Open (its own pool and connections), as separate processes would be.

// openReplicas opens n stores on one new database at once, so their
// migrations race too.
func openReplicas(t *testing.T, n int) []*DB {
	t.Helper()
	// A small pool each: the test server's connections are shared with
	// every other test running against it.
	url := pgtest.Database(t)
	if strings.Contains(url, "?") {
		url += "&pool_max_conns=4"
	} else {
		url += "?pool_max_conns=4"
	}
	dbs := make([]*DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range dbs {
		wg.Go(func() { dbs[i], errs[i] = Open(context.Background(), url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		t.Cleanup(func() { dbs[i].Close() })
	}
	return dbs
}

func userMessage(text string) *engram.Item {
	return &engram.Item{Type: engram.ItemMessage, Role: "user", Status: engram.StatusCompleted,
		Content: []engram.Content{{Type: engram.ContentInputText, Text: text}}, Tokens: 10}
}

func newTestConversation(t *testing.T, db *DB, pid string) *engram.Conversation {
	t.Helper()
	c := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid}
	if err := db.CreateConversation(context.Background(), c, nil); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestReplicasClaimEachRunOnce: workers of four replicas claim runs at
// once, finishing each run they claim. Every run (a running one whose
// worker died, and one queued behind it on the same conversation) is
// claimed exactly once, and each conversation's log holds the two runs'
// turns in order.
func TestReplicasClaimEachRunOnce(t *testing.T) {
	ctx := context.Background()
	replicas := openReplicas(t, 4)
	const conversations, workersPerReplica = 24, 3
	pid := newTestProject(t, replicas[0])
	type pair struct{ first, queued *engram.Response }
	pairs := make([]pair, conversations)
	convOf := map[string]string{}
	for i := range pairs {
		c := newTestConversation(t, replicas[0], pid)
		dead := &engram.Response{ID: engram.NewID("resp"), ProjectID: pid, ConversationID: c.ID, Model: "scripted/echo",
			Status: engram.StatusInProgress, Metadata: map[string]string{}, Lease: engram.Lease{Owner: "dead-node/1", Until: 1}}
		if err := replicas[0].CreateResponse(ctx, dead, []*engram.Item{userMessage("first")}); err != nil || dead.Status != engram.StatusInProgress {
			t.Fatalf("first run: %v (%s)", err, dead.Status)
		}
		queued := &engram.Response{ID: engram.NewID("resp"), ProjectID: pid, ConversationID: c.ID, Model: "scripted/echo",
			Status: engram.StatusInProgress, Metadata: map[string]string{}}
		if err := replicas[1].CreateResponse(ctx, queued, []*engram.Item{userMessage("second")}); err != nil || queued.Status != engram.StatusQueued {
			t.Fatalf("second run: %v (%s)", err, queued.Status)
		}
		pairs[i] = pair{dead, queued}
		convOf[dead.ID], convOf[queued.ID] = c.ID, c.ID
	}
	total := int64(2 * conversations)

	var (
		mu      sync.Mutex
		claims  = map[string][]string{} // run → owners that claimed it
		claimed atomic.Int64
		wg      sync.WaitGroup
		start   = make(chan struct{})
	)
	deadline := time.Now().Add(60 * time.Second)
	for ri, db := range replicas {
		for w := range workersPerReplica {
			owner := fmt.Sprintf("replica-%d/%d", ri, w)
			wg.Go(func() {
				<-start
				for claimed.Load() < total {
					if time.Now().After(deadline) {
						t.Errorf("%s: runs left unclaimed", owner)
						return
					}
					lease := engram.Lease{Owner: owner, Until: time.Now().UnixMilli() + 60_000}
					r, err := db.ClaimRun(ctx, lease, time.Now().UnixMilli(), "")
					if engram.ErrorCode(err) == engram.ENotFound {
						time.Sleep(time.Millisecond)
						continue
					} else if err != nil {
						t.Errorf("%s: claim: %v", owner, err)
						return
					}
					mu.Lock()
					claims[r.ID] = append(claims[r.ID], owner)
					mu.Unlock()
					claimed.Add(1)
					if r.Lease != lease {
						t.Errorf("%s: claimed %s under %+v", owner, r.ID, r.Lease)
					}
					r.Status, r.CompletedAt = engram.StatusCompleted, engram.Now()
					out := []*engram.Item{{Type: engram.ItemMessage, Role: "assistant", Status: engram.StatusCompleted,
						Content: []engram.Content{{Type: engram.ContentOutputText, Text: "answer to " + r.ID}}, Tokens: 10}}
					if err := db.FinishResponse(ctx, r, engram.RunEnd{Lease: lease, Output: out}); err != nil {
						t.Errorf("%s: finish %s: %v", owner, r.ID, err)
						return
					}
				}
			})
		}
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}
	if len(claims) != int(total) {
		t.Fatalf("%d runs claimed, want %d", len(claims), total)
	}
	for id, owners := range claims {
		if len(owners) != 1 {
			t.Errorf("run %s claimed %d times: %v", id, len(owners), owners)
		}
	}
	for _, p := range pairs {
		items, _, err := replicas[2].ListItems(ctx, pid, p.first.ConversationID, engram.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			resp, origin string
		}{{p.first.ID, engram.OriginInput}, {p.first.ID, engram.OriginOutput}, {p.queued.ID, engram.OriginInput}, {p.queued.ID, engram.OriginOutput}}
		if len(items) != len(want) {
			t.Fatalf("conversation %s has %d items, want %d", p.first.ConversationID, len(items), len(want))
		}
		for i, it := range items {
			if it.Seq != int64(i+1) || it.ResponseID != want[i].resp || it.Origin != want[i].origin {
				t.Errorf("conversation %s item %d: seq %d of %s (%s), want seq %d of %s (%s)",
					p.first.ConversationID, i, it.Seq, it.ResponseID, it.Origin, i+1, want[i].resp, want[i].origin)
			}
		}
	}
}

// TestReplicasStartOneRunPerConversation: requests to start a run on one
// conversation arrive at four replicas at once. Under "reject" exactly one
// starts and the others conflict; under "enqueue" exactly one starts, the
// others queue, and only the started run's input is in the log.
func TestReplicasStartOneRunPerConversation(t *testing.T) {
	ctx := context.Background()
	replicas := openReplicas(t, 4)
	pid := newTestProject(t, replicas[0])
	const perReplica = 4
	for _, policy := range []string{engram.ConcurrencyReject, engram.ConcurrencyEnqueue} {
		for round := range 5 {
			c := newTestConversation(t, replicas[0], pid)
			var wg sync.WaitGroup
			start := make(chan struct{})
			var mu sync.Mutex
			var started, queued, conflicts int
			for _, db := range replicas {
				for range perReplica {
					wg.Go(func() {
						r := &engram.Response{ID: engram.NewID("resp"), ProjectID: pid, ConversationID: c.ID, Conversation: c.ID, Model: "scripted/echo",
							Status: engram.StatusInProgress, Metadata: map[string]string{}, Concurrency: policy,
							Lease: engram.Lease{Owner: "w", Until: time.Now().UnixMilli() + 60_000}}
						<-start
						err := db.CreateResponse(ctx, r, []*engram.Item{userMessage("q")})
						mu.Lock()
						defer mu.Unlock()
						switch {
						case err == nil && r.Status == engram.StatusInProgress:
							started++
						case err == nil && r.Status == engram.StatusQueued:
							queued++
						case engram.ErrorCode(err) == engram.EConflict:
							conflicts++
						default:
							t.Errorf("%s: %v (%s)", policy, err, r.Status)
						}
					})
				}
			}
			close(start)
			wg.Wait()
			n := len(replicas) * perReplica
			wantQueued, wantConflicts := n-1, 0
			if policy == engram.ConcurrencyReject {
				wantQueued, wantConflicts = 0, n-1
			}
			if started != 1 || queued != wantQueued || conflicts != wantConflicts {
				t.Errorf("%s round %d: %d started, %d queued, %d conflicts; want 1, %d, %d", policy, round, started, queued, conflicts, wantQueued, wantConflicts)
			}
			got, err := replicas[0].GetConversation(ctx, pid, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.LastSeq != 1 {
				t.Errorf("%s round %d: the log holds %d items, want the started run's one", policy, round, got.LastSeq)
			}
		}
	}
}

// TestReplicasAppendGapless: four replicas append to one conversation at
// once. Sequence numbers run 1..n without a gap, the items of one append
// are adjacent and in order, and the conversation's counts match.
func TestReplicasAppendGapless(t *testing.T) {
	ctx := context.Background()
	replicas := openReplicas(t, 4)
	pid := newTestProject(t, replicas[0])
	c := newTestConversation(t, replicas[0], pid)
	const writersPerReplica, appends, batch = 3, 20, 3
	var wg sync.WaitGroup
	start := make(chan struct{})
	for ri, db := range replicas {
		for w := range writersPerReplica {
			wg.Go(func() {
				<-start
				for a := range appends {
					items := make([]*engram.Item, batch)
					for i := range items {
						items[i] = userMessage(fmt.Sprintf("%d/%d/%d/%d", ri, w, a, i))
					}
					if err := db.AppendItems(ctx, pid, c.ID, items); err != nil {
						t.Errorf("append: %v", err)
						return
					}
				}
			})
		}
	}
	close(start)
	wg.Wait()
	total := len(replicas) * writersPerReplica * appends * batch
	var all []*engram.Item
	page := engram.Page{Limit: 1000}
	for {
		items, more, err := replicas[1].ListItems(ctx, pid, c.ID, page)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, items...)
		if !more {
			break
		}
		page.After = items[len(items)-1].ID
	}
	if len(all) != total {
		t.Fatalf("%d items, want %d", len(all), total)
	}
	for i, it := range all {
		if it.Seq != int64(i+1) {
			t.Fatalf("item %d has seq %d", i, it.Seq)
		}
		if i%batch != 0 {
			var ri, w, a, n, pri, pw, pa, pn int
			fmt.Sscanf(it.Text(), "%d/%d/%d/%d", &ri, &w, &a, &n)
			fmt.Sscanf(all[i-1].Text(), "%d/%d/%d/%d", &pri, &pw, &pa, &pn)
			if ri != pri || w != pw || a != pa || n != pn+1 {
				t.Fatalf("item %d (%s) does not follow %s within one append", i, it.Text(), all[i-1].Text())
			}
		}
	}
	got, err := replicas[2].GetConversation(ctx, pid, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.LastSeq != int64(total) || got.Tokens != int64(10*total) {
		t.Errorf("conversation: last_seq %d, tokens %d; want %d, %d", got.LastSeq, got.Tokens, total, 10*total)
	}
}
