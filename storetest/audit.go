package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/engram-run/engram"
)

// auditAll reads a project's whole chain in order, a page at a time.
func auditAll(t *testing.T, s engram.Store, projectID string) []*engram.AuditEntry {
	t.Helper()
	var all []*engram.AuditEntry
	f := engram.AuditFilter{Limit: 7}
	for {
		page, more, err := s.ListAudit(ctx, projectID, f)
		must(t, err)
		all = append(all, page...)
		if !more {
			return all
		}
		f.AfterSeq = page[len(page)-1].Seq
	}
}

// testAuditChain: appends link each entry to the one before in its own
// project's chain, the store keeps every field's bytes (so the chain
// verifies as read back), and a project that does not exist is refused.
func testAuditChain(t *testing.T, s engram.Store) {
	a, b := newProject(t, s), newProject(t, s)
	details := []json.RawMessage{
		nil,
		json.RawMessage(` {"status": 201, "note": "<b>&</b>", "é": "ü"} `), // stored in canonical form
		json.RawMessage(`null`),
		json.RawMessage(`{"status":400}`),
	}
	for i, d := range details {
		e := &engram.AuditEntry{ProjectID: a, Actor: "key:key_1 user:ada", Action: "POST /v1/agents", Resource: fmt.Sprintf("agent_%d", i),
			Outcome: engram.AuditSuccess, Details: d}
		must(t, s.AppendAudit(ctx, e))
		if e.Seq != int64(i+1) || e.Time == 0 || e.Hash != e.ComputeHash() {
			t.Fatalf("entry %d appended as %+v", i, e)
		}
		// Another project's chain runs on its own.
		other := &engram.AuditEntry{ProjectID: b, Actor: "cli", Action: "tool.call", Resource: "http", Outcome: engram.AuditFailure}
		must(t, s.AppendAudit(ctx, other))
		if other.Seq != int64(i+1) {
			t.Fatalf("the other project's entry %d has seq %d", i, other.Seq)
		}
	}
	chain := auditAll(t, s, a)
	if len(chain) != len(details) {
		t.Fatalf("read %d entries, appended %d", len(chain), len(details))
	}
	must(t, engram.VerifyAudit(chain, engram.AuditGenesis))
	must(t, engram.VerifyAudit(auditAll(t, s, b), engram.AuditGenesis))
	if chain[0].PrevHash != engram.AuditGenesis || chain[1].PrevHash != chain[0].Hash {
		t.Errorf("prev hashes: %s, %s", chain[0].PrevHash, chain[1].PrevHash)
	}
	if want := `{"status":201,"note":"\u003cb\u003e\u0026\u003c/b\u003e","é":"ü"}`; string(chain[1].Details) != want {
		t.Errorf("details stored as %s, want %s", chain[1].Details, want)
	}
	if chain[0].Details != nil || chain[2].Details != nil || chain[0].DetailsDigest != engram.DigestAuditDetails(nil) {
		t.Errorf("no details came back as %q / %q, digest %s", chain[0].Details, chain[2].Details, chain[0].DetailsDigest)
	}
	for i := 1; i < len(chain); i++ {
		if chain[i].Time < chain[i-1].Time {
			t.Errorf("entry %d's time %d is before entry %d's %d", chain[i].Seq, chain[i].Time, chain[i-1].Seq, chain[i-1].Time)
		}
	}
	// Bytes a database would not keep as they are (NUL, invalid UTF-8) are
	// replaced before the hash is taken, alike in both stores.
	odd := &engram.AuditEntry{ProjectID: a, Actor: "cli", Action: "DELETE /v1/agents/{ref}", Resource: "a\x00b\xff", Outcome: engram.AuditSuccess}
	must(t, s.AppendAudit(ctx, odd))
	chain = auditAll(t, s, a)
	if got := chain[len(chain)-1].Resource; got != "a b\uFFFD" {
		t.Errorf("resource stored as %q", got)
	}
	must(t, engram.VerifyAudit(chain, engram.AuditGenesis))

	wantCode(t, s.AppendAudit(ctx, &engram.AuditEntry{ProjectID: "proj_none", Actor: "cli", Action: "x", Outcome: engram.AuditSuccess}), engram.ENotFound)
	if list, _, err := s.ListAudit(ctx, "proj_none", engram.AuditFilter{}); err != nil || len(list) != 0 {
		t.Errorf("an unknown project's chain: %v, %v", list, err)
	}
}

// testAuditConcurrent: appends racing on one project still make one
// gapless chain that verifies.
func testAuditConcurrent(t *testing.T, s engram.Store) {
	p := newProject(t, s)
	const writers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				e := &engram.AuditEntry{ProjectID: p, Actor: fmt.Sprintf("key:w%d", w), Action: "tool.call", Resource: fmt.Sprint(i),
					Outcome: engram.AuditSuccess, Details: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}
				if err := s.AppendAudit(ctx, e); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	chain := auditAll(t, s, p)
	if len(chain) != writers*each {
		t.Fatalf("%d entries, want %d", len(chain), writers*each)
	}
	for i, e := range chain {
		if e.Seq != int64(i+1) {
			t.Fatalf("entry %d has seq %d", i, e.Seq)
		}
	}
	must(t, engram.VerifyAudit(chain, engram.AuditGenesis))
}

// testAuditFilters: every filter, order and cursor selects what a model
// over the whole chain selects.
func testAuditFilters(t *testing.T, s engram.Store) {
	p := newProject(t, s)
	actors := []string{"key:k1", "key:k2 user:ada", "system:retention"}
	actions := []string{"POST /v1/agents", "DELETE /v1/agents/{ref}", "tool.call"}
	outcomes := []string{engram.AuditSuccess, engram.AuditFailure}
	base := int64(1_700_000_000_000)
	for i := range 30 {
		e := &engram.AuditEntry{ProjectID: p, Time: base + int64(i)*1000, Actor: actors[i%3], Action: actions[(i/3)%3],
			Resource: fmt.Sprintf("r%d", i%4), Outcome: outcomes[(i/2)%2]}
		must(t, s.AppendAudit(ctx, e))
	}
	all := auditAll(t, s, p)
	must(t, engram.VerifyAudit(all, engram.AuditGenesis))
	seqs := func(list []*engram.AuditEntry) []int64 {
		out := make([]int64, len(list))
		for i, e := range list {
			out[i] = e.Seq
		}
		return out
	}
	model := func(f engram.AuditFilter) ([]int64, bool) {
		var rows []*engram.AuditEntry
		for _, e := range all {
			if (f.Actor == "" || e.Actor == f.Actor) && (f.Action == "" || e.Action == f.Action) && (f.Resource == "" || e.Resource == f.Resource) &&
				(f.Outcome == "" || e.Outcome == f.Outcome) && (f.From == 0 || e.Time >= f.From) && (f.To == 0 || e.Time < f.To) {
				rows = append(rows, e)
			}
		}
		ids := seqs(rows)
		if f.Desc() {
			slices.Reverse(ids)
		}
		// Cursors are exclusive, in the page's order.
		var window []int64
		for _, seq := range ids {
			after := f.AfterSeq == 0 || (f.Desc() && seq < f.AfterSeq) || (!f.Desc() && seq > f.AfterSeq)
			before := f.BeforeSeq == 0 || (f.Desc() && seq > f.BeforeSeq) || (!f.Desc() && seq < f.BeforeSeq)
			if after && before {
				window = append(window, seq)
			}
		}
		n := f.Size()
		if len(window) <= n {
			return window, false
		}
		if f.Backwards() {
			return window[len(window)-n:], true
		}
		return window[:n], true
	}
	var filters []engram.AuditFilter
	for _, order := range []string{"", "asc", "desc"} {
		filters = append(filters,
			engram.AuditFilter{Order: order},
			engram.AuditFilter{Order: order, Limit: 4},
			engram.AuditFilter{Order: order, Limit: 4, AfterSeq: 10},
			engram.AuditFilter{Order: order, Limit: 4, BeforeSeq: 10},
			engram.AuditFilter{Order: order, Limit: 30, AfterSeq: 3, BeforeSeq: 20},
			engram.AuditFilter{Order: order, Limit: 3, AfterSeq: 20, BeforeSeq: 3}, // crossed when ascending
			engram.AuditFilter{Order: order, Actor: "key:k2 user:ada"},
			engram.AuditFilter{Order: order, Actor: "key:k2 user:ada", Limit: 2, AfterSeq: 5},
			engram.AuditFilter{Order: order, Action: "DELETE /v1/agents/{ref}", Outcome: engram.AuditFailure},
			engram.AuditFilter{Order: order, Resource: "r1", Limit: 3},
			engram.AuditFilter{Order: order, Outcome: engram.AuditSuccess, Limit: 5, BeforeSeq: 25},
			engram.AuditFilter{Order: order, From: base + 5000, To: base + 12000},
			engram.AuditFilter{Order: order, From: base + 5000, To: base + 12000, Actor: "key:k1", Limit: 1},
			engram.AuditFilter{Order: order, Actor: "nobody"},
		)
	}
	for _, f := range filters {
		got, more, err := s.ListAudit(ctx, p, f)
		must(t, err)
		want, wantMore := model(f)
		if !slices.Equal(seqs(got), want) || more != wantMore {
			t.Errorf("filter %+v = %v (has_more %v), want %v (has_more %v)", f, seqs(got), more, want, wantMore)
		}
	}
	// Entries of another project never show.
	other := newProject(t, s)
	if list, _, err := s.ListAudit(ctx, other, engram.AuditFilter{}); err != nil || len(list) != 0 {
		t.Errorf("another project lists %d entries (%v)", len(list), err)
	}
}
