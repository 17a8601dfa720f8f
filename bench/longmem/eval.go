package longmem

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/engram-run/engram"
)

// LoadFunc writes a question's haystack into scope, one memory record per
// turn (see Record), so that each store can use its fastest write path.
type LoadFunc func(ctx context.Context, scope engram.MemoryScope, turns []Turn) error

// Record is the memory record a turn becomes: the role leads the text
// because "you suggested" questions need to tell the assistant's words
// from the user's, and metadata maps hits back to turn ids.
func Record(scope engram.MemoryScope, t Turn) *engram.MemoryRecord {
	return &engram.MemoryRecord{
		ProjectID:  scope.ProjectID,
		AgentID:    scope.AgentID,
		User:       scope.User,
		Kind:       engram.RecordPassage,
		Text:       t.Role + ": " + t.Text,
		Source:     engram.SourceAPI,
		OccurredAt: t.Date.Unix(),
		Metadata:   map[string]string{"turn": t.ID, "session": t.Session},
	}
}

// WriteTurns is a LoadFunc writing each turn through svc.WriteRecord.
func WriteTurns(svc engram.MemoryService) LoadFunc {
	return func(ctx context.Context, scope engram.MemoryScope, turns []Turn) error {
		for _, t := range turns {
			if err := svc.WriteRecord(ctx, Record(scope, t)); err != nil {
				return fmt.Errorf("turn %s: %w", t.ID, err)
			}
		}
		return nil
	}
}

// Options tune Evaluate.
type Options struct {
	// Modes are MemoryQuery modes to compare ("bm25", "hybrid"); the
	// default is both.
	Modes []string
	// Scope fields: each question gets the user UserPrefix + its id, so a
	// run never sees another question's haystack. Defaults: project
	// "longmem", agent "longmem", prefix "longmem-".
	ProjectID, AgentID, UserPrefix string
	// Limit is how many hits each query asks for (default 10, the
	// deepest cut-off measured).
	Limit int
}

// Result is one question answered in one mode.
type Result struct {
	Question string   `json:"question"`
	Kind     string   `json:"kind"`
	Mode     string   `json:"mode"`
	Ranked   []string `json:"ranked"` // turn ids, best first
	Metrics
}

// Metrics are retrieval scores in [0,1]. Turn recall is the fraction of
// evidence turns in the top k; session recall the fraction of evidence
// sessions with at least one turn in the top k, LongMemEval's coarser
// measure. StaleFirst is, for knowledge updates, how often a superseded
// statement ranked above the current one.
type Metrics struct {
	Recall5, Recall10               float64
	SessionRecall5, SessionRecall10 float64
	NDCG10                          float64
	StaleFirst                      float64
}

// Row is the mean over the questions of one kind ("all" for every kind) in
// one mode.
type Row struct {
	Mode, Kind string
	N          int
	Metrics
}

// Report is what Evaluate measured.
type Report struct {
	Dataset string
	Rows    []Row
	Results []Result
}

// Evaluate loads each question's haystack into a fresh scope with load,
// queries svc with the question text in each mode, and scores the ranking
// against the evidence turns.
func Evaluate(ctx context.Context, svc engram.MemoryService, load LoadFunc, ds *Dataset, modes []string) (Report, error) {
	return EvaluateWith(ctx, svc, load, ds, Options{Modes: modes})
}

// EvaluateWith is Evaluate with every option.
func EvaluateWith(ctx context.Context, svc engram.MemoryService, load LoadFunc, ds *Dataset, o Options) (Report, error) {
	if len(o.Modes) == 0 {
		o.Modes = []string{"bm25", "hybrid"}
	}
	o.ProjectID = cmp.Or(o.ProjectID, "longmem")
	o.AgentID = cmp.Or(o.AgentID, "longmem")
	o.UserPrefix = cmp.Or(o.UserPrefix, "longmem-")
	if o.Limit <= 0 {
		o.Limit = 10
	}
	rep := Report{Dataset: ds.Name}
	for i := range ds.Questions {
		q := &ds.Questions[i]
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		scope := engram.MemoryScope{ProjectID: o.ProjectID, AgentID: o.AgentID, User: o.UserPrefix + q.ID}
		if err := load(ctx, scope, q.Turns()); err != nil {
			return rep, fmt.Errorf("load %s: %w", q.ID, err)
		}
		for _, mode := range o.Modes {
			hits, err := svc.SearchRecords(ctx, engram.MemoryQuery{Scope: scope, Text: q.Question, Limit: o.Limit, Mode: mode})
			if err != nil {
				return rep, fmt.Errorf("search %s (%s): %w", q.ID, mode, err)
			}
			ranked := rankedTurns(hits)
			rep.Results = append(rep.Results, Result{Question: q.ID, Kind: q.Kind, Mode: mode, Ranked: ranked, Metrics: Score(q, ranked)})
		}
	}
	rep.Rows = summarize(rep.Results, o.Modes)
	return rep, nil
}

// rankedTurns maps hits to turn ids, dropping records that are not turns
// and repeats, so that neither can inflate a score.
func rankedTurns(hits []engram.MemoryHit) []string {
	var out []string
	for _, h := range hits {
		if h.Record == nil {
			continue
		}
		id := h.Record.Metadata["turn"]
		if id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// Score measures ranked (turn ids, best first) against q's evidence.
func Score(q *Question, ranked []string) Metrics {
	session := func(turn string) string { s, _, _ := strings.Cut(turn, ":"); return s }
	recall := func(k int) (turns, sessions float64) {
		top := ranked[:min(k, len(ranked))]
		for _, e := range q.EvidenceTurns {
			if slices.Contains(top, e) {
				turns++
			}
		}
		for _, s := range q.EvidenceSessions {
			if slices.ContainsFunc(top, func(t string) bool { return session(t) == s }) {
				sessions++
			}
		}
		return turns / float64(len(q.EvidenceTurns)), sessions / float64(len(q.EvidenceSessions))
	}
	var m Metrics
	m.Recall5, m.SessionRecall5 = recall(5)
	m.Recall10, m.SessionRecall10 = recall(10)

	var dcg, idcg float64
	for i, t := range ranked[:min(10, len(ranked))] {
		if slices.Contains(q.EvidenceTurns, t) {
			dcg += 1 / math.Log2(float64(i+2))
		}
	}
	for i := range min(10, len(q.EvidenceTurns)) {
		idcg += 1 / math.Log2(float64(i+2))
	}
	m.NDCG10 = dcg / idcg

	if len(q.Superseded) > 0 {
		first := func(ids []string) int {
			for i, t := range ranked {
				if slices.Contains(ids, t) {
					return i
				}
			}
			return len(ranked)
		}
		if old := first(q.Superseded); old < len(ranked) && old < first(q.EvidenceTurns) {
			m.StaleFirst = 1
		}
	}
	return m
}

func summarize(results []Result, modes []string) []Row {
	var rows []Row
	for _, mode := range modes {
		for _, kind := range append(slices.Clone(Kinds), "all") {
			row := Row{Mode: mode, Kind: kind}
			var updates int
			for _, r := range results {
				if r.Mode != mode || (kind != "all" && r.Kind != kind) {
					continue
				}
				row.N++
				row.Recall5 += r.Recall5
				row.Recall10 += r.Recall10
				row.SessionRecall5 += r.SessionRecall5
				row.SessionRecall10 += r.SessionRecall10
				row.NDCG10 += r.NDCG10
				if r.Kind == KindKnowledgeUpdate {
					updates++
					row.StaleFirst += r.StaleFirst
				}
			}
			if row.N == 0 {
				continue
			}
			n := float64(row.N)
			row.Recall5 /= n
			row.Recall10 /= n
			row.SessionRecall5 /= n
			row.SessionRecall10 /= n
			row.NDCG10 /= n
			if updates > 0 {
				row.StaleFirst /= float64(updates)
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// Row returns the row of mode and kind ("all" for the overall mean).
func (r Report) Row(mode, kind string) (Row, bool) {
	for _, row := range r.Rows {
		if row.Mode == mode && row.Kind == kind {
			return row, true
		}
	}
	return Row{}, false
}

// Markdown renders the rows as a table, modes by kinds. Stale@1 is shown
// only for knowledge updates, the one kind where it means something.
func (r Report) Markdown() string {
	var b strings.Builder
	if r.Dataset != "" {
		fmt.Fprintf(&b, "Retrieval quality on %s\n\n", r.Dataset)
	}
	b.WriteString("| mode | kind | n | R@5 | R@10 | session R@5 | session R@10 | NDCG@10 | stale first |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, row := range r.Rows {
		stale := ""
		if row.Kind == KindKnowledgeUpdate {
			stale = fmt.Sprintf("%.3f", row.StaleFirst)
		}
		kind := row.Kind
		if kind == "all" {
			kind = "**all**"
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %.3f | %.3f | %.3f | %.3f | %.3f | %s |\n",
			row.Mode, kind, row.N, row.Recall5, row.Recall10, row.SessionRecall5, row.SessionRecall10, row.NDCG10, stale)
	}
	return b.String()
}
