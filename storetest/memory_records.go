package storetest

import (
	"reflect"
	"slices"
	"testing"

	"github.com/engram-run/engram"
)

// testMemoryRecords runs the RecordStore contract as subtests sharing one
// store, each in projects of its own.
func testMemoryRecords(t *testing.T, s engram.Store) {
	for _, tt := range []struct {
		name string
		fn   func(*testing.T, engram.Store)
	}{
		{"CRUD", testRecordCRUD},
		{"Paging", testRecordPaging},
		{"TextSearch", testRecordTextSearch},
		{"HostileTerms", testRecordHostileTerms},
		{"Supersedes", testRecordSupersedes},
		{"VectorSearch", testRecordVectorSearch},
		{"ItemSearch", testItemSearch},
		{"Isolation", testMemoryIsolation},
	} {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, s) })
	}
}

func newRecord(t *testing.T, s engram.Store, scope engram.MemoryScope, kind, text string) *engram.MemoryRecord {
	t.Helper()
	r := &engram.MemoryRecord{ProjectID: scope.ProjectID, AgentID: scope.AgentID, User: scope.User, Kind: kind, Text: text, Source: engram.SourceAPI}
	must(t, s.CreateRecord(ctx, r))
	return r
}

func recordIDs(rs []*engram.MemoryRecord) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func rankedIDs(t *testing.T, rs []engram.RankedRecord) []string {
	t.Helper()
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Record.ID
		if i > 0 && r.Score > rs[i-1].Score {
			t.Errorf("results not best first: score %v after %v", r.Score, rs[i-1].Score)
		}
	}
	return out
}

func rankedItemIDs(t *testing.T, rs []engram.RankedItem) []string {
	t.Helper()
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Item.ID
		if i > 0 && r.Score > rs[i-1].Score {
			t.Errorf("results not best first: score %v after %v", r.Score, rs[i-1].Score)
		}
	}
	return out
}

func testRecordCRUD(t *testing.T, s engram.Store) {
	scope := engram.MemoryScope{ProjectID: newProject(t, s), AgentID: "agent_keeper", User: "ada"}
	r := &engram.MemoryRecord{ProjectID: scope.ProjectID, AgentID: scope.AgentID, User: scope.User, Kind: engram.RecordFact,
		Text: "Ada keeps three hives in Lisbon.", Metadata: map[string]string{"source": "chat"}, Source: engram.SourceExtraction,
		ConversationID: "conv_x", ItemIDs: []string{"msg_1", "msg_2"}, Embedding: []float32{0.5, -1, 2.25}, EmbeddingModel: "embed-small"}
	must(t, s.CreateRecord(ctx, r))
	if r.ID == "" || r.CreatedAt == 0 || r.OccurredAt != r.CreatedAt {
		t.Fatalf("created %+v: want id, created_at and occurred_at = created_at", r)
	}
	got, err := s.GetRecord(ctx, scope.ProjectID, r.ID)
	must(t, err)
	if !reflect.DeepEqual(got, r) {
		t.Errorf("GetRecord = %+v\nwant %+v", got, r)
	}
	episode := &engram.MemoryRecord{ProjectID: scope.ProjectID, AgentID: scope.AgentID, User: scope.User, Kind: engram.RecordEpisode,
		Text: "Hive 2 swarmed.", OccurredAt: 1_700_000_000}
	must(t, s.CreateRecord(ctx, episode))
	if got, err := s.GetRecord(ctx, scope.ProjectID, episode.ID); err != nil || got.OccurredAt != 1_700_000_000 || got.Metadata == nil || len(got.Embedding) != 0 {
		t.Errorf("episode = %+v, %v: occurred_at kept, metadata never nil, no embedding", got, err)
	}

	for name, bad := range map[string]*engram.MemoryRecord{
		"no kind":             {ProjectID: scope.ProjectID, Text: "x"},
		"unknown kind":        {ProjectID: scope.ProjectID, Kind: "rumour", Text: "x"},
		"no text":             {ProjectID: scope.ProjectID, Kind: engram.RecordFact},
		"blank text":          {ProjectID: scope.ProjectID, Kind: engram.RecordFact, Text: " \n\t"},
		"vector but no model": {ProjectID: scope.ProjectID, Kind: engram.RecordFact, Text: "x", Embedding: []float32{1}},
	} {
		if err := s.CreateRecord(ctx, bad); engram.ErrorCode(err) != engram.EInvalid {
			t.Errorf("%s: err = %v, want EInvalid", name, err)
		}
	}
	wantCode(t, s.CreateRecord(ctx, &engram.MemoryRecord{ProjectID: "proj_missing", Kind: engram.RecordFact, Text: "x"}), engram.ENotFound)
	wantCode(t, s.CreateRecord(ctx, &engram.MemoryRecord{ID: r.ID, ProjectID: scope.ProjectID, Kind: engram.RecordFact, Text: "x"}), engram.EConflict)

	list, more, err := s.ListRecords(ctx, scope, engram.RecordFilter{})
	must(t, err)
	if !slices.Equal(recordIDs(list), []string{r.ID, episode.ID}) || more {
		t.Errorf("ListRecords = %v (more %v), want both in creation order", recordIDs(list), more)
	}
	list, _, err = s.ListRecords(ctx, scope, engram.RecordFilter{Kind: engram.RecordEpisode})
	must(t, err)
	if !slices.Equal(recordIDs(list), []string{episode.ID}) {
		t.Errorf("ListRecords of episodes = %v", recordIDs(list))
	}

	must(t, s.DeleteRecord(ctx, scope.ProjectID, r.ID))
	_, err = s.GetRecord(ctx, scope.ProjectID, r.ID)
	wantCode(t, err, engram.ENotFound)
	wantCode(t, s.DeleteRecord(ctx, scope.ProjectID, r.ID), engram.ENotFound)
	if found, err := s.SearchRecordsText(ctx, scope, []string{"Lisbon"}, 10, true); err != nil || len(found) != 0 {
		t.Errorf("a deleted record is still found: %d, %v", len(found), err)
	}
	if found, err := s.SearchRecordsVector(ctx, scope, []float32{0.5, -1, 2.25}, "embed-small", 10, true); err != nil || len(found) != 0 {
		t.Errorf("a deleted record's vector is still found: %d, %v", len(found), err)
	}
}

func testRecordPaging(t *testing.T, s engram.Store) {
	scope := engram.MemoryScope{ProjectID: newProject(t, s), AgentID: "agent_keeper", User: "ada"}
	other := scope
	other.User = "bob"
	var ids []string
	for range 6 {
		ids = append(ids, newRecord(t, s, scope, engram.RecordFact, "a fact").ID)
		newRecord(t, s, other, engram.RecordFact, "another user's fact") // between every two: never counted
	}
	checkPages(t, ids, func(p engram.Page) ([]string, bool, error) {
		list, more, err := s.ListRecords(ctx, scope, engram.RecordFilter{Page: p})
		return recordIDs(list), more, err
	})
}

func testRecordTextSearch(t *testing.T, s engram.Store) {
	scope := engram.MemoryScope{ProjectID: newProject(t, s), AgentID: "agent_keeper", User: "ada"}
	both := newRecord(t, s, scope, engram.RecordFact, "The queen of hive two is missing.")
	one := newRecord(t, s, scope, engram.RecordFact, "Hive five stands by the orange tree.")
	newRecord(t, s, scope, engram.RecordPreference, "Ada prefers honey from lavender.")

	// Read-your-writes: found the moment CreateRecord returns.
	found, err := s.SearchRecordsText(ctx, scope, []string{"queen", "hive"}, 10, false)
	must(t, err)
	if got := rankedIDs(t, found); !slices.Equal(got, []string{both.ID, one.ID}) {
		t.Errorf("search = %v, want the record matching both terms, then the one matching one", got)
	}
	if found[0].Record.Text != both.Text || found[0].Record.Kind != engram.RecordFact || found[0].Record.User != "ada" {
		t.Errorf("a found record comes whole: %+v", found[0].Record)
	}
	if found, err := s.SearchRecordsText(ctx, scope, []string{"queen", "hive"}, 1, false); err != nil || len(found) != 1 || found[0].Record.ID != both.ID {
		t.Errorf("k = 1: %v, %v", found, err)
	}
	if found, err := s.SearchRecordsText(ctx, scope, []string{"HONEY"}, 10, false); err != nil || len(found) != 1 {
		t.Errorf("search is case-insensitive: %d found, %v", len(found), err)
	}
	for _, terms := range [][]string{nil, {}, {""}, {"unicorn"}} {
		if found, err := s.SearchRecordsText(ctx, scope, terms, 10, false); err != nil || len(found) != 0 {
			t.Errorf("terms %q: %d found, %v; want none and no error", terms, len(found), err)
		}
	}
}

// testRecordHostileTerms: terms are text, whatever they hold; none is
// syntax. (Terms come from a JSON request, so they are valid UTF-8 without
// NUL, which PostgreSQL could not take as text at all.)
func testRecordHostileTerms(t *testing.T, s engram.Store) {
	scope := engram.MemoryScope{ProjectID: newProject(t, s), AgentID: "agent_keeper", User: "ada"}
	r := newRecord(t, s, scope, engram.RecordFact, `The "near" hive (north) is Ada's favourite: café crème, 東京 bees OR wasps.`)
	c := newScopedConversation(t, s, scope, false, msg("user", r.Text))
	for _, terms := range [][]string{
		{`"`}, {`""`}, {`"near`}, {`near"`}, {`a"b`}, {`*`}, {`hive*`}, {`*hive`}, {`NEAR`}, {`NEAR(hive north)`},
		{`OR`}, {`AND`}, {`NOT`}, {`-`}, {`-hive`}, {`(`}, {`)`}, {`(north)`}, {`^hive`}, {`text:hive`}, {`scope:x`},
		{`{text}`}, {`+`}, {`:`}, {`'`}, {`\`}, {`%`}, {`_`}, {`;`}, {`--`}, {`/*`}, {`$1`}, {`?`}, {`&`}, {`|`}, {`!`}, {`<->`},
		{`café`}, {`東京`}, {`🐝`}, {"\u0301"}, {"e\u0301"}, {"\u200b"},
		{`OR`, `AND`, `NOT`, `hive`}, {`hive`, ``, `"`, `*`},
	} {
		if _, err := s.SearchRecordsText(ctx, scope, terms, 10, false); err != nil {
			t.Errorf("SearchRecordsText(%q): %v", terms, err)
		}
		if _, err := s.SearchRecordsText(ctx, scope, terms, 10, true); err != nil {
			t.Errorf("SearchRecordsText(%q, superseded too): %v", terms, err)
		}
		if _, err := s.SearchItemsText(ctx, scope, terms, 10, ""); err != nil {
			t.Errorf("SearchItemsText(%q): %v", terms, err)
		}
		if _, err := s.SearchItemsText(ctx, scope, terms, 10, c.ID); err != nil {
			t.Errorf("SearchItemsText(%q, excluding): %v", terms, err)
		}
	}
	// Words that are operators elsewhere are only words here.
	for _, terms := range [][]string{{`NEAR`}, {`OR`}, {`(north)`}, {`-hive`}, {`hive*`}, {`"near"`}} {
		if found, err := s.SearchRecordsText(ctx, scope, terms, 10, false); err != nil || len(found) != 1 {
			t.Errorf("SearchRecordsText(%q) = %d found, %v; want the record", terms, len(found), err)
		}
		if found, err := s.SearchItemsText(ctx, scope, terms, 10, ""); err != nil || len(found) != 1 {
			t.Errorf("SearchItemsText(%q) = %d found, %v; want the message", terms, len(found), err)
		}
	}
}

func testRecordSupersedes(t *testing.T, s engram.Store) {
	scope := engram.MemoryScope{ProjectID: newProject(t, s), AgentID: "agent_keeper", User: "ada"}
	old := newRecord(t, s, scope, engram.RecordFact, "Ada keeps three hives.")
	fix := &engram.MemoryRecord{ProjectID: scope.ProjectID, AgentID: scope.AgentID, User: scope.User, Kind: engram.RecordFact,
		Text: "Ada keeps four hives.", Supersedes: old.ID}
	must(t, s.CreateRecord(ctx, fix))
	got, err := s.GetRecord(ctx, scope.ProjectID, old.ID)
	must(t, err)
	if got.SupersededBy != fix.ID {
		t.Errorf("old record's superseded_by = %q, want %s", got.SupersededBy, fix.ID)
	}
	if got, err := s.GetRecord(ctx, scope.ProjectID, fix.ID); err != nil || got.Supersedes != old.ID || got.SupersededBy != "" {
		t.Errorf("new record = %+v, %v", got, err)
	}

	// A record can be superseded once.
	again := &engram.MemoryRecord{ProjectID: scope.ProjectID, AgentID: scope.AgentID, User: scope.User, Kind: engram.RecordFact,
		Text: "Ada keeps five hives.", Supersedes: old.ID}
	wantCode(t, s.CreateRecord(ctx, again), engram.EConflict)
	// Only within its scope; of another scope it is not found.
	for _, other := range []engram.MemoryScope{
		{ProjectID: newProject(t, s), AgentID: scope.AgentID, User: scope.User},
		{ProjectID: scope.ProjectID, AgentID: "agent_other", User: scope.User},
		{ProjectID: scope.ProjectID, AgentID: scope.AgentID, User: "bob"},
		{ProjectID: scope.ProjectID, AgentID: "", User: scope.User},
		{ProjectID: scope.ProjectID, AgentID: scope.AgentID, User: ""},
	} {
		r := &engram.MemoryRecord{ProjectID: other.ProjectID, AgentID: other.AgentID, User: other.User, Kind: engram.RecordFact,
			Text: "Ada keeps no hives.", Supersedes: fix.ID}
		wantCode(t, s.CreateRecord(ctx, r), engram.ENotFound)
	}
	wantCode(t, s.CreateRecord(ctx, &engram.MemoryRecord{ProjectID: scope.ProjectID, AgentID: scope.AgentID, User: scope.User,
		Kind: engram.RecordFact, Text: "x", Supersedes: "mem_missing"}), engram.ENotFound)
	// Failed supersedes left nothing behind.
	if got, err := s.GetRecord(ctx, scope.ProjectID, fix.ID); err != nil || got.SupersededBy != "" {
		t.Errorf("a refused supersede changed the record: %+v, %v", got, err)
	}
	all, _, err := s.ListRecords(ctx, scope, engram.RecordFilter{IncludeSuperseded: true})
	must(t, err)
	if !slices.Equal(recordIDs(all), []string{old.ID, fix.ID}) {
		t.Errorf("records after refused supersedes = %v", recordIDs(all))
	}

	live, _, err := s.ListRecords(ctx, scope, engram.RecordFilter{})
	must(t, err)
	if !slices.Equal(recordIDs(live), []string{fix.ID}) {
		t.Errorf("ListRecords = %v, want only the correction", recordIDs(live))
	}
	found, err := s.SearchRecordsText(ctx, scope, []string{"hives"}, 10, false)
	must(t, err)
	if got := rankedIDs(t, found); !slices.Equal(got, []string{fix.ID}) {
		t.Errorf("search = %v, want only the correction", got)
	}
	found, err = s.SearchRecordsText(ctx, scope, []string{"hives"}, 10, true)
	must(t, err)
	if got := rankedIDs(t, found); len(got) != 2 || !slices.Contains(got, old.ID) {
		t.Errorf("search with superseded = %v, want both", got)
	}
	// The superseded record stays searchable by its own words when asked.
	found, err = s.SearchRecordsText(ctx, scope, []string{"three"}, 10, true)
	must(t, err)
	if got := rankedIDs(t, found); !slices.Equal(got, []string{old.ID}) {
		t.Errorf("search for the old words with superseded = %v", got)
	}

	// Vectors follow the same rule.
	vold := &engram.MemoryRecord{ProjectID: scope.ProjectID, AgentID: scope.AgentID, User: scope.User, Kind: engram.RecordFact,
		Text: "v1", Embedding: []float32{1, 0}, EmbeddingModel: "m"}
	must(t, s.CreateRecord(ctx, vold))
	vnew := &engram.MemoryRecord{ProjectID: scope.ProjectID, AgentID: scope.AgentID, User: scope.User, Kind: engram.RecordFact,
		Text: "v2", Embedding: []float32{0, 1}, EmbeddingModel: "m", Supersedes: vold.ID}
	must(t, s.CreateRecord(ctx, vnew))
	vfound, err := s.SearchRecordsVector(ctx, scope, []float32{1, 0}, "m", 10, false)
	must(t, err)
	if got := rankedIDs(t, vfound); !slices.Equal(got, []string{vnew.ID}) {
		t.Errorf("vector search = %v, want only the correction", got)
	}
	vfound, err = s.SearchRecordsVector(ctx, scope, []float32{1, 0}, "m", 10, true)
	must(t, err)
	if got := rankedIDs(t, vfound); !slices.Equal(got, []string{vold.ID, vnew.ID}) {
		t.Errorf("vector search with superseded = %v", got)
	}
}

func testRecordVectorSearch(t *testing.T, s engram.Store) {
	scope := engram.MemoryScope{ProjectID: newProject(t, s), AgentID: "agent_keeper", User: "ada"}
	embedded := func(model string, vec ...float32) *engram.MemoryRecord {
		r := &engram.MemoryRecord{ProjectID: scope.ProjectID, AgentID: scope.AgentID, User: scope.User, Kind: engram.RecordFact,
			Text: "embedded", Embedding: vec, EmbeddingModel: model}
		must(t, s.CreateRecord(ctx, r))
		return r
	}
	far := embedded("m", 0, 1, 0)
	same := embedded("m", 2, 0, 0) // cosine ignores length
	near := embedded("m", 0.9, 0.3, 0)
	opposite := embedded("m", -1, 0, 0)
	embedded("other", 1, 0, 0)                            // another model: never compared
	newRecord(t, s, scope, engram.RecordFact, "embedded") // no vector

	found, err := s.SearchRecordsVector(ctx, scope, []float32{1, 0, 0}, "m", 10, false)
	must(t, err)
	if got := rankedIDs(t, found); !slices.Equal(got, []string{same.ID, near.ID, far.ID, opposite.ID}) {
		t.Errorf("vector search = %v, want by cosine: same, near, far, opposite", got)
	}
	if len(found) == 4 {
		for i, want := range []float64{1, 0.9 / 0.948683, 0, -1} {
			if d := found[i].Score - want; d > 1e-4 || d < -1e-4 {
				t.Errorf("score %d = %v, want cosine %v", i, found[i].Score, want)
			}
		}
		if !reflect.DeepEqual(found[1].Record.Embedding, []float32{0.9, 0.3, 0}) || found[1].Record.EmbeddingModel != "m" {
			t.Errorf("a found record comes whole: %+v", found[1].Record)
		}
	}
	found, err = s.SearchRecordsVector(ctx, scope, []float32{1, 0, 0}, "m", 2, false)
	must(t, err)
	if got := rankedIDs(t, found); !slices.Equal(got, []string{same.ID, near.ID}) {
		t.Errorf("vector search k = 2: %v", got)
	}
	if found, err := s.SearchRecordsVector(ctx, scope, []float32{1, 0, 0}, "unknown", 10, false); err != nil || len(found) != 0 {
		t.Errorf("a model with no vectors: %d found, %v", len(found), err)
	}
}

// newScopedConversation creates a conversation of scope's agent and user.
func newScopedConversation(t *testing.T, s engram.Store, scope engram.MemoryScope, hidden bool, items ...*engram.Item) *engram.Conversation {
	t.Helper()
	c := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: scope.ProjectID, AgentID: scope.AgentID, User: scope.User, Hidden: hidden}
	must(t, s.CreateConversation(ctx, c, items))
	return c
}

func testItemSearch(t *testing.T, s engram.Store) {
	scope := engram.MemoryScope{ProjectID: newProject(t, s), AgentID: "agent_keeper", User: "ada"}
	past := newScopedConversation(t, s, scope, false, msg("user", "Hive two lost its queen in March."), msg("assistant", "Requeen hive two before summer."))
	chain := newScopedConversation(t, s, scope, true, msg("user", "The queen of hive seven is marked blue."))
	current := newScopedConversation(t, s, scope, false, msg("user", "What happened to the queen?"))
	gone := newScopedConversation(t, s, scope, false, msg("user", "A queen story nobody should find."))
	must(t, s.DeleteConversation(ctx, scope.ProjectID, gone.ID))
	// Not messages of a user or an assistant: not searched.
	must(t, s.AppendItems(ctx, scope.ProjectID, past.ID, []*engram.Item{
		{Type: engram.ItemFunctionCall, CallID: "call_1", Name: "queen_finder", Arguments: `{"queen":"hive"}`, Tokens: 5},
		{Type: engram.ItemFunctionCallOutput, CallID: "call_1", Output: "queen found in hive", Tokens: 5},
	}))

	found, err := s.SearchItemsText(ctx, scope, []string{"queen"}, 10, current.ID)
	must(t, err)
	got := rankedItemIDs(t, found)
	want := []string{}
	for _, c := range []*engram.Conversation{past, chain} {
		items, _, err := s.ListItems(ctx, scope.ProjectID, c.ID, engram.Page{})
		must(t, err)
		for _, it := range items {
			if it.Type == engram.ItemMessage && it.Role == "user" {
				want = append(want, it.ID)
			}
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("items found = %v, want the user messages of the past and the hidden conversation %v", got, want)
	}
	for _, h := range found {
		if h.Item.ConversationID == "" || h.Item.Seq == 0 || h.Item.Text() == "" || h.Item.Role != "user" {
			t.Errorf("a found item comes whole, with its conversation: %+v", h.Item)
		}
	}
	found, err = s.SearchItemsText(ctx, scope, []string{"queen"}, 10, "")
	must(t, err)
	if len(found) != 3 {
		t.Errorf("with nothing excluded, %d found, want 3", len(found))
	}
	found, err = s.SearchItemsText(ctx, scope, []string{"requeen", "summer", "hive"}, 1, current.ID)
	must(t, err)
	if len(found) != 1 || found[0].Item.Role != "assistant" || found[0].Item.ConversationID != past.ID {
		t.Errorf("best item for requeen summer hive = %+v, want the assistant's answer", found)
	}

	// Appended items are found at once; deleted ones never.
	late := msg("user", "The queen of hive nine flew off.")
	must(t, s.AppendItems(ctx, scope.ProjectID, past.ID, []*engram.Item{late}))
	found, err = s.SearchItemsText(ctx, scope, []string{"nine"}, 10, current.ID)
	must(t, err)
	if got := rankedItemIDs(t, found); !slices.Equal(got, []string{late.ID}) {
		t.Errorf("an appended item: found %v", got)
	}
	must(t, s.DeleteItem(ctx, scope.ProjectID, past.ID, late.ID))
	found, err = s.SearchItemsText(ctx, scope, []string{"nine"}, 10, current.ID)
	must(t, err)
	if len(found) != 0 {
		t.Errorf("a deleted item is found")
	}
	must(t, s.DeleteConversation(ctx, scope.ProjectID, chain.ID))
	found, err = s.SearchItemsText(ctx, scope, []string{"seven", "blue"}, 10, "")
	must(t, err)
	if len(found) != 0 {
		t.Errorf("an item of a deleted conversation is found")
	}
	if found, err := s.SearchItemsText(ctx, scope, nil, 10, ""); err != nil || len(found) != 0 {
		t.Errorf("no terms: %d found, %v", len(found), err)
	}
}

// testMemoryIsolation: a scope's reads never return another project's,
// agent's or user's records or messages, though the text and vectors are
// the same everywhere.
func testMemoryIsolation(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	mine := engram.MemoryScope{ProjectID: pid, AgentID: "agent_keeper", User: "ada"}
	others := []engram.MemoryScope{
		{ProjectID: newProject(t, s), AgentID: mine.AgentID, User: mine.User},
		{ProjectID: pid, AgentID: "agent_other", User: mine.User},
		{ProjectID: pid, AgentID: mine.AgentID, User: "bob"},
		{ProjectID: pid, AgentID: "", User: mine.User},
		{ProjectID: pid, AgentID: mine.AgentID, User: ""},
		{ProjectID: pid, AgentID: "", User: ""},
		// Pieces that would run together if a store joined them naively.
		{ProjectID: pid, AgentID: "agent_keeperada", User: ""},
		{ProjectID: pid, AgentID: "agent_keeper", User: "ada "},
	}
	const text = "The secret hive is behind the old mill."
	vec := []float32{0.3, 0.4, 0.5}
	write := func(scope engram.MemoryScope) (*engram.MemoryRecord, *engram.Conversation) {
		r := &engram.MemoryRecord{ProjectID: scope.ProjectID, AgentID: scope.AgentID, User: scope.User, Kind: engram.RecordFact,
			Text: text, Embedding: vec, EmbeddingModel: "m"}
		must(t, s.CreateRecord(ctx, r))
		c := newScopedConversation(t, s, scope, false, msg("user", text))
		newScopedConversation(t, s, scope, true, msg("assistant", text))
		return r, c
	}
	myRecord, _ := write(mine)
	var theirs []*engram.MemoryRecord
	for _, o := range others {
		r, _ := write(o)
		theirs = append(theirs, r)
	}

	list, _, err := s.ListRecords(ctx, mine, engram.RecordFilter{IncludeSuperseded: true})
	must(t, err)
	if got := recordIDs(list); !slices.Equal(got, []string{myRecord.ID}) {
		t.Errorf("ListRecords = %v, want only mine", got)
	}
	found, err := s.SearchRecordsText(ctx, mine, []string{"secret", "hive", "mill"}, 100, true)
	must(t, err)
	if got := rankedIDs(t, found); !slices.Equal(got, []string{myRecord.ID}) {
		t.Errorf("SearchRecordsText = %v, want only mine", got)
	}
	vfound, err := s.SearchRecordsVector(ctx, mine, vec, "m", 100, true)
	must(t, err)
	if got := rankedIDs(t, vfound); !slices.Equal(got, []string{myRecord.ID}) {
		t.Errorf("SearchRecordsVector = %v, want only mine", got)
	}
	items, err := s.SearchItemsText(ctx, mine, []string{"secret", "hive", "mill"}, 100, "")
	must(t, err)
	if len(items) != 2 {
		t.Errorf("SearchItemsText found %d, want my two messages", len(items))
	}
	for _, h := range items {
		c, err := s.GetConversation(ctx, pid, h.Item.ConversationID)
		if err != nil || c.AgentID != mine.AgentID || c.User != mine.User {
			t.Errorf("SearchItemsText found an item of conversation %+v (%v)", c, err)
		}
	}

	// Another project's record is not found by id, and cannot be deleted
	// or superseded from mine.
	_, err = s.GetRecord(ctx, pid, theirs[0].ID)
	wantCode(t, err, engram.ENotFound)
	wantCode(t, s.DeleteRecord(ctx, pid, theirs[0].ID), engram.ENotFound)
	if _, err := s.GetRecord(ctx, others[0].ProjectID, theirs[0].ID); err != nil {
		t.Errorf("their record after my delete: %v", err)
	}
	_, err = s.GetRecord(ctx, others[0].ProjectID, myRecord.ID)
	wantCode(t, err, engram.ENotFound)

	// Each other scope, too, sees only its own.
	for i, o := range others {
		found, err := s.SearchRecordsText(ctx, o, []string{"secret"}, 100, true)
		must(t, err)
		if got := rankedIDs(t, found); !slices.Equal(got, []string{theirs[i].ID}) {
			t.Errorf("scope %+v: SearchRecordsText = %v, want its own", o, got)
		}
	}
}
