// Package memory writes and retrieves agents' long-term memory: records
// ranked by BM25, vectors when an embedding model is configured, and
// recency, fused; past conversations searched by text; and the embedding
// models themselves.
package memory

import (
	"context"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/engram-run/engram"
)

// Search modes.
const (
	ModeHybrid = "hybrid"
	ModeBM25   = "bm25"
)

const (
	// DefaultLimit and MaxLimit bound the results of one search.
	DefaultLimit = 10
	MaxLimit     = 100
	// MaxTextChars bounds a record: memory holds facts and passages, and a
	// whole document in one record would rank poorly and crowd a context
	// window when recalled.
	MaxTextChars = 16000

	// rrfK is reciprocal-rank fusion's constant: with 60 (the value of
	// Cormack et al., used by most hybrid search engines) the first few
	// ranks of a list differ little, so one list alone cannot dominate.
	rrfK = 60
	// recencyWeight makes recency a gentle prior rather than a third
	// judge of relevance: at 0.25 per two relevance lists it decides
	// between records the text and vector lists rank alike (a fact and
	// its later update) but moves a record past at most a few
	// better-ranked ones. It shrinks with the lists that ran (text alone,
	// without an embedding model): against one list's smaller rank gaps
	// the same weight would move a record twice as far.
	recencyWeight = 0.25
)

// Service implements engram.MemoryService over a store and an optional
// embedding model.
type Service struct {
	Store    engram.RecordStore
	Embedder engram.Embedder  // nil: text and recency only
	Now      func() time.Time // nil: time.Now
	Logger   *slog.Logger     // nil: slog.Default()
}

var _ engram.MemoryService = (*Service)(nil)

func (s *Service) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// validKind reports whether kind is one of the record kinds.
func validKind(kind string) bool {
	switch kind {
	case engram.RecordFact, engram.RecordPreference, engram.RecordEpisode, engram.RecordPassage:
		return true
	}
	return false
}

// WriteRecord implements engram.MemoryService. An embedding model that
// fails does not lose the write: the record is stored without a vector,
// found by text until it is embedded again, and the failure is logged.
func (s *Service) WriteRecord(ctx context.Context, r *engram.MemoryRecord) error {
	r.Text = strings.TrimSpace(r.Text)
	switch {
	case r.ProjectID == "":
		return engram.Errorf(engram.EInternal, "memory: a record needs a project")
	case r.Text == "":
		return engram.ParamErrorf(engram.EInvalid, "text", "Missing required parameter: 'text'.")
	case utf8.RuneCountInString(r.Text) > MaxTextChars:
		return engram.ParamErrorf(engram.EInvalid, "text", "Invalid 'text': at most %d characters; split a long document into passages.", MaxTextChars)
	}
	if r.Kind == "" {
		r.Kind = engram.RecordFact
	}
	if !validKind(r.Kind) {
		return engram.ParamErrorf(engram.EInvalid, "kind", "Invalid value for 'kind': expected 'fact', 'preference', 'episode' or 'passage', but got '%s'.", r.Kind)
	}
	if r.OccurredAt < 0 {
		return engram.ParamErrorf(engram.EInvalid, "occurred_at", "Invalid 'occurred_at': expected Unix seconds.")
	}
	if r.Source == "" {
		r.Source = engram.SourceAPI
	}
	// The service's clock dates what it writes, so that recency, which
	// ranks by OccurredAt, follows the same clock as the rest of the
	// service (and a test's fake clock orders records exactly).
	if r.OccurredAt == 0 {
		r.OccurredAt = s.now().Unix()
	}
	if r.Metadata == nil {
		r.Metadata = map[string]string{}
	}
	if s.Embedder != nil && r.Embedding == nil {
		vecs, err := s.Embedder.Embed(ctx, []string{r.Text})
		switch {
		case err != nil:
			s.logger().Warn("memory: storing a record without its embedding", "model", s.Embedder.Model(), "err", err)
		case len(vecs) != 1 || !normalise(vecs[0]):
			s.logger().Warn("memory: storing a record without its embedding", "model", s.Embedder.Model(), "err", "unusable vector")
		default:
			r.Embedding, r.EmbeddingModel = vecs[0], s.Embedder.Model()
		}
	}
	return s.Store.CreateRecord(ctx, r)
}

// SearchRecords implements engram.MemoryService. Scores are fused
// reciprocal-rank scores scaled so that a record first in every list it
// could be in (text, vector, recency) scores 1; in bm25 mode they are the
// store's BM25 scores.
func (s *Service) SearchRecords(ctx context.Context, q engram.MemoryQuery) ([]engram.MemoryHit, error) {
	limit, err := checkLimit(q.Limit)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(q.Text) == "" {
		return nil, engram.ParamErrorf(engram.EInvalid, "query", "Missing required parameter: 'query'.")
	}
	for _, k := range q.Kinds {
		if !validKind(k) {
			return nil, engram.ParamErrorf(engram.EInvalid, "kinds", "Invalid value for 'kinds': expected 'fact', 'preference', 'episode' or 'passage', but got '%s'.", k)
		}
	}
	mode := q.Mode
	if mode == "" {
		mode = ModeHybrid
	}
	if mode != ModeHybrid && mode != ModeBM25 {
		return nil, engram.ParamErrorf(engram.EInvalid, "mode", "Invalid value for 'mode': expected 'hybrid' or 'bm25', but got '%s'.", q.Mode)
	}

	// Kinds are filtered here rather than in the store (they select, they
	// do not scope), so fetch enough candidates that filtering still
	// leaves a full page in all but lopsided memories.
	pool := min(max(3*limit, 30), 300)
	if len(q.Kinds) > 0 {
		pool = min(2*pool, 600)
	}
	terms := Terms(q.Text)
	var text []engram.RankedRecord
	if len(terms) > 0 {
		if text, err = s.Store.SearchRecordsText(ctx, q.Scope, terms, pool, q.IncludeSuperseded); err != nil {
			return nil, err
		}
	}
	if mode == ModeBM25 {
		var hits []engram.MemoryHit
		for _, rr := range text {
			if len(hits) < limit && kindWanted(q.Kinds, rr.Record.Kind) {
				hits = append(hits, engram.MemoryHit(rr))
			}
		}
		return hits, nil
	}
	vector, err := s.searchVectors(ctx, q, pool)
	if err != nil {
		return nil, err
	}
	return fuse(text, vector, q.Kinds, limit), nil
}

// searchVectors ranks by similarity to the query's embedding; nothing when
// no embedding model is configured or it fails (the search then stands on
// text and recency rather than failing).
func (s *Service) searchVectors(ctx context.Context, q engram.MemoryQuery, pool int) ([]engram.RankedRecord, error) {
	if s.Embedder == nil {
		return nil, nil
	}
	vecs, err := s.Embedder.Embed(ctx, []string{q.Text})
	if err != nil || len(vecs) != 1 || !normalise(vecs[0]) {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		s.logger().Warn("memory: searching without vectors: the query could not be embedded", "model", s.Embedder.Model(), "err", err)
		return nil, nil
	}
	return s.Store.SearchRecordsVector(ctx, q.Scope, vecs[0], s.Embedder.Model(), pool, q.IncludeSuperseded)
}

// fuse merges the text and vector rankings and a recency ranking of every
// candidate by reciprocal-rank fusion. Records that tie in a list share
// its rank, so that among records a list cannot tell apart recency decides.
func fuse(text, vector []engram.RankedRecord, kinds []string, limit int) []engram.MemoryHit {
	type candidate struct {
		record *engram.MemoryRecord
		score  float64
	}
	byID := map[string]*candidate{}
	var all []*candidate
	add := func(list []engram.RankedRecord, weight float64) {
		for i, rank := range tiedRanks(list) {
			rec := list[i].Record
			if !kindWanted(kinds, rec.Kind) {
				continue
			}
			c := byID[rec.ID]
			if c == nil {
				c = &candidate{record: rec}
				byID[rec.ID] = c
				all = append(all, c)
			}
			c.score += weight / float64(rrfK+rank)
		}
	}
	add(text, 1)
	add(vector, 1)
	lists := 0.0
	for _, l := range [][]engram.RankedRecord{text, vector} {
		if len(l) > 0 {
			lists++
		}
	}
	if len(all) == 0 {
		return nil
	}
	recency := recencyWeight * lists / 2

	byRecency := make([]engram.RankedRecord, len(all))
	for i, c := range all {
		byRecency[i] = engram.RankedRecord{Record: c.record, Score: float64(c.record.OccurredAt)}
	}
	slices.SortStableFunc(byRecency, func(a, b engram.RankedRecord) int { return -compareFloat(a.Score, b.Score) })
	for i, rank := range tiedRanks(byRecency) {
		byID[byRecency[i].Record.ID].score += recency / float64(rrfK+rank)
	}

	best := (lists + recency) / float64(rrfK+1)
	slices.SortStableFunc(all, func(a, b *candidate) int {
		if c := compareFloat(b.score, a.score); c != 0 {
			return c
		}
		return strings.Compare(b.record.ID, a.record.ID) // ids sort by creation: newer first
	})
	hits := make([]engram.MemoryHit, 0, min(limit, len(all)))
	for _, c := range all[:min(limit, len(all))] {
		hits = append(hits, engram.MemoryHit{Record: c.record, Score: roundScore(c.score / best)})
	}
	return hits
}

// tiedRanks gives each entry of a best-first list its 1-based rank, equal
// scores sharing the rank of the first of them.
func tiedRanks(list []engram.RankedRecord) []int {
	ranks := make([]int, len(list))
	for i := range list {
		if i > 0 && nearlyEqual(list[i].Score, list[i-1].Score) {
			ranks[i] = ranks[i-1]
		} else {
			ranks[i] = i + 1
		}
	}
	return ranks
}

// nearlyEqual treats scores equal up to floating-point noise, since BM25
// of two equally matching records may differ in the last bits.
func nearlyEqual(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*max(1, math.Abs(a), math.Abs(b))
}

func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// roundScore keeps scores readable to a model and stable across platforms'
// last-bit differences.
func roundScore(x float64) float64 { return math.Round(x*1e6) / 1e6 }

func kindWanted(kinds []string, kind string) bool {
	return len(kinds) == 0 || slices.Contains(kinds, kind)
}

func checkLimit(limit int) (int, error) {
	switch {
	case limit == 0:
		return DefaultLimit, nil
	case limit < 0:
		return 0, engram.ParamErrorf(engram.EInvalid, "limit", "Invalid 'limit': expected an integer between 1 and %d.", MaxLimit)
	}
	return min(limit, MaxLimit), nil
}

// SearchConversations implements engram.MemoryService: messages of the
// scope's past conversations ranked by BM25 over the query's terms.
func (s *Service) SearchConversations(ctx context.Context, scope engram.MemoryScope, text string, limit int, excludeConversation string) ([]engram.ItemHit, error) {
	limit, err := checkLimit(limit)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(text) == "" {
		return nil, engram.ParamErrorf(engram.EInvalid, "query", "Missing required parameter: 'query'.")
	}
	terms := Terms(text)
	if len(terms) == 0 {
		return nil, nil
	}
	found, err := s.Store.SearchItemsText(ctx, scope, terms, limit, excludeConversation)
	if err != nil {
		return nil, err
	}
	hits := make([]engram.ItemHit, len(found))
	for i, f := range found {
		hits[i] = engram.ItemHit{Item: f.Item, ConversationID: f.Item.ConversationID, Score: f.Score}
	}
	return hits, nil
}
