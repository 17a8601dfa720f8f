package memory

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/engram-run/engram"
)

// fakeRecords is an in-memory RecordStore for the service's own logic; the
// real stores pass storetest. Its text score counts matching terms, so
// tests can make ties and orders on purpose.
type fakeRecords struct {
	records   []*engram.MemoryRecord
	items     []*engram.Item
	gotTerms  []string
	gotK      int
	gotExcl   string
	failText  error
	itemScope engram.MemoryScope
}

func (f *fakeRecords) CreateRecord(_ context.Context, r *engram.MemoryRecord) error {
	r.ID = engram.NewID("mem")
	r.CreatedAt = engram.Now()
	f.records = append(f.records, r)
	return nil
}

func (f *fakeRecords) GetRecord(context.Context, string, string) (*engram.MemoryRecord, error) {
	return nil, errors.New("unused")
}

func (f *fakeRecords) ListRecords(context.Context, engram.MemoryScope, engram.RecordFilter) ([]*engram.MemoryRecord, bool, error) {
	return nil, false, errors.New("unused")
}

func (f *fakeRecords) DeleteRecord(context.Context, string, string) error {
	return errors.New("unused")
}

func (f *fakeRecords) inScope(r *engram.MemoryRecord, scope engram.MemoryScope, includeSuperseded bool) bool {
	return r.Scope() == scope && (includeSuperseded || r.SupersededBy == "")
}

func (f *fakeRecords) SearchRecordsText(_ context.Context, scope engram.MemoryScope, terms []string, k int, includeSuperseded bool) ([]engram.RankedRecord, error) {
	if f.failText != nil {
		return nil, f.failText
	}
	f.gotTerms, f.gotK = terms, k
	var out []engram.RankedRecord
	for _, r := range f.records {
		if !f.inScope(r, scope, includeSuperseded) {
			continue
		}
		words := strings.FieldsFunc(strings.ToLower(r.Text), func(r rune) bool { return !isWordRune(r) })
		n := 0
		for _, t := range terms {
			if slices.Contains(words, t) {
				n++
			}
		}
		if n > 0 {
			out = append(out, engram.RankedRecord{Record: r, Score: float64(n)})
		}
	}
	slices.SortStableFunc(out, func(a, b engram.RankedRecord) int { return compareFloat(b.Score, a.Score) })
	return out[:min(k, len(out))], nil
}

func (f *fakeRecords) SearchRecordsVector(_ context.Context, scope engram.MemoryScope, vec []float32, model string, k int, includeSuperseded bool) ([]engram.RankedRecord, error) {
	var out []engram.RankedRecord
	for _, r := range f.records {
		if !f.inScope(r, scope, includeSuperseded) || r.EmbeddingModel != model {
			continue
		}
		var dot float64
		for i := range vec {
			dot += float64(vec[i] * r.Embedding[i])
		}
		out = append(out, engram.RankedRecord{Record: r, Score: dot})
	}
	slices.SortStableFunc(out, func(a, b engram.RankedRecord) int { return compareFloat(b.Score, a.Score) })
	return out[:min(k, len(out))], nil
}

func (f *fakeRecords) SearchItemsText(_ context.Context, scope engram.MemoryScope, terms []string, k int, exclude string) ([]engram.RankedItem, error) {
	f.gotTerms, f.gotK, f.gotExcl, f.itemScope = terms, k, exclude, scope
	var out []engram.RankedItem
	for _, it := range f.items {
		if it.ConversationID != exclude {
			out = append(out, engram.RankedItem{Item: it, Score: 1})
		}
	}
	return out, nil
}

// bagOfWords embeds a text as its words hashed into 64 dimensions: texts
// sharing words are near, which is all the service's logic needs.
type bagOfWords struct {
	fail  error
	calls int
}

func (b *bagOfWords) Model() string { return "bag-of-words" }

func (b *bagOfWords) Embed(_ context.Context, texts []string) ([][]float32, error) {
	b.calls++
	if b.fail != nil {
		return nil, b.fail
	}
	out := make([][]float32, len(texts))
	for i, t := range texts {
		v := make([]float32, 64)
		for _, w := range strings.Fields(strings.ToLower(t)) {
			h := fnv.New32a()
			h.Write([]byte(strings.Trim(w, ".,?!")))
			v[h.Sum32()%64] += 1
		}
		v[63] += 0.01 // never the zero vector
		out[i] = v
	}
	return out, nil
}

var ada = engram.MemoryScope{ProjectID: "proj_1", AgentID: "agent_1", User: "ada"}

// clock starts at a fixed day and moves a day per call, so records written
// one after another are a day apart.
func clock() func() time.Time {
	t := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	return func() time.Time { t = t.Add(24 * time.Hour); return t }
}

func write(t *testing.T, s *Service, scope engram.MemoryScope, kind, text string) *engram.MemoryRecord {
	t.Helper()
	r := &engram.MemoryRecord{ProjectID: scope.ProjectID, AgentID: scope.AgentID, User: scope.User, Kind: kind, Text: text}
	if err := s.WriteRecord(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

func texts(hits []engram.MemoryHit) []string {
	var out []string
	for _, h := range hits {
		out = append(out, h.Record.Text)
	}
	return out
}

func TestWriteRecord(t *testing.T) {
	store, emb := &fakeRecords{}, &bagOfWords{}
	s := &Service{Store: store, Embedder: emb, Now: clock()}
	r := write(t, s, ada, "", "  Ada keeps three hives in Lisbon.  ")
	if r.Kind != engram.RecordFact || r.Source != engram.SourceAPI || r.Metadata == nil || r.Text != "Ada keeps three hives in Lisbon." {
		t.Errorf("defaults: %+v", r)
	}
	if r.OccurredAt != time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC).Unix() {
		t.Errorf("occurred_at %d, want the service's clock", r.OccurredAt)
	}
	if r.EmbeddingModel != "bag-of-words" || len(r.Embedding) != 64 {
		t.Fatalf("embedding %q %d", r.EmbeddingModel, len(r.Embedding))
	}
	var sum float64
	for _, x := range r.Embedding {
		sum += float64(x * x)
	}
	if sum < 0.999 || sum > 1.001 {
		t.Errorf("embedding has squared norm %f, want 1", sum)
	}

	for _, tt := range []struct {
		rec   engram.MemoryRecord
		param string
	}{
		{engram.MemoryRecord{ProjectID: "p", Text: " \n "}, "text"},
		{engram.MemoryRecord{ProjectID: "p", Text: strings.Repeat("é", MaxTextChars+1)}, "text"},
		{engram.MemoryRecord{ProjectID: "p", Text: "x", Kind: "rumour"}, "kind"},
		{engram.MemoryRecord{ProjectID: "p", Text: "x", OccurredAt: -1}, "occurred_at"},
	} {
		err := s.WriteRecord(context.Background(), &tt.rec)
		var e *engram.Error
		if !errors.As(err, &e) || e.Code != engram.EInvalid || e.Param != tt.param {
			t.Errorf("WriteRecord(%.20q, kind %q) = %v, want invalid %s", tt.rec.Text, tt.rec.Kind, err, tt.param)
		}
	}
	if len(store.records) != 1 {
		t.Errorf("%d records stored, want only the valid one", len(store.records))
	}
}

// TestWriteRecordEmbedderDown: a failing embedding model costs the vector,
// never the write.
func TestWriteRecordEmbedderDown(t *testing.T) {
	store := &fakeRecords{}
	s := &Service{Store: store, Embedder: &bagOfWords{fail: engram.Errorf(engram.EUpstream, "down")}, Logger: slog.New(slog.DiscardHandler)}
	r := write(t, s, ada, engram.RecordFact, "Hive 2 is queenless.")
	if r.ID == "" || r.Embedding != nil || r.EmbeddingModel != "" {
		t.Errorf("record %+v", r)
	}
	hits, err := s.SearchRecords(context.Background(), engram.MemoryQuery{Scope: ada, Text: "queenless hive"})
	if err != nil || len(hits) != 1 {
		t.Errorf("search with the embedder down: %v %v", texts(hits), err)
	}
}

func TestSearchRecordsArguments(t *testing.T) {
	s := &Service{Store: &fakeRecords{}}
	for _, tt := range []struct {
		q     engram.MemoryQuery
		param string
	}{
		{engram.MemoryQuery{Scope: ada, Text: " "}, "query"},
		{engram.MemoryQuery{Scope: ada, Text: "bees", Limit: -1}, "limit"},
		{engram.MemoryQuery{Scope: ada, Text: "bees", Mode: "vector"}, "mode"},
		{engram.MemoryQuery{Scope: ada, Text: "bees", Kinds: []string{"fact", "gossip"}}, "kinds"},
	} {
		_, err := s.SearchRecords(context.Background(), tt.q)
		var e *engram.Error
		if !errors.As(err, &e) || e.Code != engram.EInvalid || e.Param != tt.param {
			t.Errorf("SearchRecords(%+v) = %v, want invalid %s", tt.q, err, tt.param)
		}
	}
}

func TestSearchRecordsLimits(t *testing.T) {
	store := &fakeRecords{}
	s := &Service{Store: store, Now: clock()}
	for range 120 {
		write(t, s, ada, engram.RecordFact, "bees")
	}
	for _, tt := range []struct{ limit, want int }{{0, DefaultLimit}, {3, 3}, {100, 100}, {1000, MaxLimit}} {
		hits, err := s.SearchRecords(context.Background(), engram.MemoryQuery{Scope: ada, Text: "bees", Limit: tt.limit})
		if err != nil || len(hits) != tt.want {
			t.Errorf("limit %d: %d hits (%v), want %d", tt.limit, len(hits), err, tt.want)
		}
	}
}

// TestRecencyBreaksTies: two records the query matches equally, the later
// one (a knowledge update) first, in both modes' inputs, and scores in (0, 1].
func TestRecencyBreaksTies(t *testing.T) {
	for _, emb := range []engram.Embedder{nil, &bagOfWords{}} {
		store := &fakeRecords{}
		s := &Service{Store: store, Embedder: emb, Now: clock()}
		write(t, s, ada, engram.RecordFact, "Ada lives in Lisbon.")
		write(t, s, ada, engram.RecordFact, "Ada lives in Porto.")
		hits, err := s.SearchRecords(context.Background(), engram.MemoryQuery{Scope: ada, Text: "Where does Ada live? lives"})
		if err != nil {
			t.Fatal(err)
		}
		if got := texts(hits); !slices.Equal(got, []string{"Ada lives in Porto.", "Ada lives in Lisbon."}) {
			t.Errorf("embedder %v: %q, want the newer first", emb != nil, got)
		}
		for _, h := range hits {
			if h.Score <= 0 || h.Score > 1 {
				t.Errorf("score %f outside (0, 1]", h.Score)
			}
		}
		if hits[0].Score <= hits[1].Score {
			t.Errorf("scores %f, %f: the first must score higher", hits[0].Score, hits[1].Score)
		}
	}
}

// TestRecencyIsGentle: a newer record that matches worse stays below an
// older one that matches better.
func TestRecencyIsGentle(t *testing.T) {
	store := &fakeRecords{}
	s := &Service{Store: store, Embedder: &bagOfWords{}, Now: clock()}
	write(t, s, ada, engram.RecordFact, "Hive 2 swarmed in May and the swarm was caught.")
	write(t, s, ada, engram.RecordFact, "The swarm trap hangs in the orchard.")
	for range 5 {
		write(t, s, ada, engram.RecordFact, "Ada likes swarm season.")
	}
	hits, err := s.SearchRecords(context.Background(), engram.MemoryQuery{Scope: ada, Text: "when did hive 2 swarm in May"})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) == 0 || hits[0].Record.Text != "Hive 2 swarmed in May and the swarm was caught." {
		t.Errorf("got %q, want the best match first despite its age", texts(hits))
	}
}

// TestVectorsFindWhatTextMisses: with an embedding model, a record that
// shares no search term with the query but is near it is found.
func TestVectorsFindWhatTextMisses(t *testing.T) {
	store := &fakeRecords{}
	s := &Service{Store: store, Embedder: &bagOfWords{}, Now: clock()}
	write(t, s, ada, engram.RecordFact, "where the bees are")
	write(t, s, ada, engram.RecordFact, "Ada sells honey at the market.")
	// "where" and "are" are stopwords: text search has "bees" only, and
	// the fake's vectors also hash the stopwords.
	hits, err := s.SearchRecords(context.Background(), engram.MemoryQuery{Scope: ada, Text: "honey where are", Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if got := texts(hits); len(got) != 2 {
		t.Errorf("hybrid found %q, want both records", got)
	}
	bm25, err := s.SearchRecords(context.Background(), engram.MemoryQuery{Scope: ada, Text: "honey where are", Mode: ModeBM25})
	if err != nil {
		t.Fatal(err)
	}
	if got := texts(bm25); !slices.Equal(got, []string{"Ada sells honey at the market."}) || bm25[0].Score != 1 {
		t.Errorf("bm25 found %q (%v), want only the text match with the store's score", got, bm25)
	}
}

func TestSearchKindsAndScope(t *testing.T) {
	store := &fakeRecords{}
	s := &Service{Store: store, Now: clock()}
	write(t, s, ada, engram.RecordFact, "Ada keeps bees.")
	write(t, s, ada, engram.RecordPreference, "Ada prefers bees to wasps.")
	write(t, s, ada, engram.RecordEpisode, "Ada was stung by bees on Monday.")
	bob := ada
	bob.User = "bob"
	write(t, s, bob, engram.RecordFact, "Bob keeps bees too.")
	hits, err := s.SearchRecords(context.Background(), engram.MemoryQuery{Scope: ada, Text: "bees", Kinds: []string{engram.RecordPreference, engram.RecordEpisode}})
	if err != nil {
		t.Fatal(err)
	}
	got := texts(hits)
	slices.Sort(got)
	if !slices.Equal(got, []string{"Ada prefers bees to wasps.", "Ada was stung by bees on Monday."}) {
		t.Errorf("kinds: %q", got)
	}
	if store.gotK < 30 {
		t.Errorf("asked the store for %d candidates: too few to fill a page after filtering", store.gotK)
	}
}

func TestSearchStopwordsOnlyAndPunctuation(t *testing.T) {
	store := &fakeRecords{}
	s := &Service{Store: store, Now: clock()}
	write(t, s, ada, engram.RecordFact, "What was it about the queen?")
	hits, err := s.SearchRecords(context.Background(), engram.MemoryQuery{Scope: ada, Text: "what was it"})
	if err != nil || len(hits) != 1 {
		t.Errorf("stopwords only: %q %v", texts(hits), err)
	}
	store.gotTerms = nil
	hits, err = s.SearchRecords(context.Background(), engram.MemoryQuery{Scope: ada, Text: "?!"})
	if err != nil || len(hits) != 0 || store.gotTerms != nil {
		t.Errorf("punctuation only: %q %v, store asked %q", texts(hits), err, store.gotTerms)
	}
}

func TestSearchStoreFailure(t *testing.T) {
	s := &Service{Store: &fakeRecords{failText: engram.Errorf(engram.EUnavailable, "busy")}}
	if _, err := s.SearchRecords(context.Background(), engram.MemoryQuery{Scope: ada, Text: "bees"}); engram.ErrorCode(err) != engram.EUnavailable {
		t.Errorf("err = %v", err)
	}
}

func TestSearchConversations(t *testing.T) {
	store := &fakeRecords{items: []*engram.Item{
		{ID: "msg_1", ConversationID: "conv_old", Type: engram.ItemMessage, Role: "user"},
		{ID: "msg_2", ConversationID: "conv_now", Type: engram.ItemMessage, Role: "user"},
	}}
	s := &Service{Store: store}
	hits, err := s.SearchConversations(context.Background(), ada, "What did I say about the Queen?", 0, "conv_now")
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 1 || hits[0].ConversationID != "conv_old" || hits[0].Item.ID != "msg_1" {
		t.Errorf("hits %+v", hits)
	}
	if !slices.Equal(store.gotTerms, []string{"queen"}) || store.gotK != DefaultLimit || store.gotExcl != "conv_now" || store.itemScope != ada {
		t.Errorf("store asked terms %q k %d excluding %q in %+v", store.gotTerms, store.gotK, store.gotExcl, store.itemScope)
	}
	if _, err := s.SearchConversations(context.Background(), ada, "", 5, ""); engram.ErrorCode(err) != engram.EInvalid {
		t.Errorf("empty query: %v", err)
	}
}
