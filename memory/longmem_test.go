package memory_test

import (
	"context"
	"os"
	"testing"

	"github.com/engram-run/engram/bench/longmem"
	"github.com/engram-run/engram/memory"
)

// retrievalFloors are recall@10 of evidence turns a little below what the
// retriever reaches on each set (docs/benchmarks.md), so that a real
// regression fails the test and noise does not. A naive word-overlap
// ranker reaches 0.32 on small (bench/longmem's own test).
var retrievalFloors = map[string]map[string]float64{
	"small":  {"bm25": 0.34, "hybrid": 0.34},
	"medium": {"bm25": 0.35, "hybrid": 0.35},
}

// TestRetrievalQuality measures recall of evidence turns on the
// LongMemEval-shaped small set (testdata/longmem), BM25 alone and fused,
// over the real SQLite store, and holds the figures above floors a
// regression would break. ENGRAM_LONGMEM=medium runs the larger set.
func TestRetrievalQuality(t *testing.T) {
	set := "small"
	if v := os.Getenv("ENGRAM_LONGMEM"); v != "" {
		set = v
	}
	floors, ok := retrievalFloors[set]
	if !ok {
		t.Fatalf("ENGRAM_LONGMEM=%s: no such set", set)
	}
	ds, err := longmem.Load("../testdata/longmem/" + set + ".json")
	if err != nil {
		t.Fatal(err)
	}
	db := openStore(t)
	svc := &memory.Service{Store: db}
	rep, err := longmem.EvaluateWith(context.Background(), svc, longmem.WriteTurns(svc), ds,
		longmem.Options{Modes: []string{"bm25", "hybrid"}, ProjectID: "proj_1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s\n%s", set, rep.Markdown())
	for mode, floor := range floors {
		row, ok := rep.Row(mode, "all")
		if !ok {
			t.Fatalf("no %s row", mode)
		}
		if row.Recall10 < floor {
			t.Errorf("%s recall@10 %.3f below %.2f", mode, row.Recall10, floor)
		}
	}
}
