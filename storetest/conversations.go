package storetest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/engram-run/engram"
)

func testConversations(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	c := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid, AgentID: "agent_a", User: "ada", Metadata: map[string]string{"topic": "bees"}}
	items := msgs("one", "two")
	must(t, s.CreateConversation(ctx, c, items))
	if c.LastSeq != 2 || c.CreatedAt == 0 || c.Tokens != 20 {
		t.Fatalf("created conversation %+v, want last_seq 2, created_at set, tokens 20", c)
	}
	for i, it := range items {
		if !strings.HasPrefix(it.ID, "msg_") || it.Seq != int64(i+1) || it.ConversationID != c.ID || it.CreatedAt == 0 {
			t.Errorf("first item %d = %+v", i, it)
		}
	}
	got, err := s.GetConversation(ctx, pid, c.ID)
	must(t, err)
	if got.ID != c.ID || got.ProjectID != pid || got.AgentID != "agent_a" || got.User != "ada" || got.Metadata["topic"] != "bees" ||
		got.CreatedAt != c.CreatedAt || got.Hidden || got.LastSeq != 2 || got.Tokens != 20 || got.ForkOf != "" {
		t.Errorf("GetConversation = %+v", got)
	}
	wantCode(t, s.CreateConversation(ctx, &engram.Conversation{ID: c.ID, ProjectID: pid}, nil), engram.EConflict)
	wantCode(t, s.CreateConversation(ctx, &engram.Conversation{ID: engram.NewID("conv"), ProjectID: "proj_missing"}, nil), engram.ENotFound)

	empty := newConversation(t, s, pid, false)
	if got, err := s.GetConversation(ctx, pid, empty.ID); err != nil || got.LastSeq != 0 || got.Metadata == nil {
		t.Errorf("an empty conversation: %+v, %v (metadata is never nil)", got, err)
	}

	// Metadata is replaced whole.
	updated, err := s.UpdateConversation(ctx, pid, c.ID, map[string]string{"hive": "2"})
	must(t, err)
	if !reflect.DeepEqual(updated.Metadata, map[string]string{"hive": "2"}) || updated.LastSeq != 2 || updated.User != "ada" {
		t.Errorf("UpdateConversation = %+v", updated)
	}
	got, err = s.GetConversation(ctx, pid, c.ID)
	must(t, err)
	if !reflect.DeepEqual(got.Metadata, map[string]string{"hive": "2"}) {
		t.Errorf("metadata after update %v", got.Metadata)
	}
	_, err = s.UpdateConversation(ctx, pid, "conv_missing", nil)
	wantCode(t, err, engram.ENotFound)
	_, err = s.GetConversation(ctx, pid, "conv_missing")
	wantCode(t, err, engram.ENotFound)
	if err != nil && !strings.Contains(engram.ErrorMessage(err), "conv_missing") {
		t.Errorf("a not-found message names the id: %q", engram.ErrorMessage(err))
	}

	must(t, s.DeleteConversation(ctx, pid, c.ID))
	_, err = s.GetConversation(ctx, pid, c.ID)
	wantCode(t, err, engram.ENotFound)
	wantCode(t, s.DeleteConversation(ctx, pid, c.ID), engram.ENotFound)
	_, err = s.UpdateConversation(ctx, pid, c.ID, map[string]string{"x": "y"})
	wantCode(t, err, engram.ENotFound)
	list, _, err := s.ListConversations(ctx, pid, engram.ConversationFilter{})
	must(t, err)
	if len(list) != 1 || list[0].ID != empty.ID {
		t.Errorf("after delete, listed %d conversations", len(list))
	}
}

func testConversationFilters(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	type row struct{ agent, user string }
	rows := []row{{"agent_a", "ada"}, {"agent_b", "ada"}, {"agent_a", "bob"}, {"agent_a", "ada"}, {"", "bob"}, {"agent_b", ""}}
	var ids []string
	for _, r := range rows {
		c := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid, AgentID: r.agent, User: r.user}
		must(t, s.CreateConversation(ctx, c, nil))
		ids = append(ids, c.ID)
	}
	// Hidden conversations (chains and forks) are never listed.
	hidden := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid, AgentID: "agent_a", User: "ada", Hidden: true}
	must(t, s.CreateConversation(ctx, hidden, msgs("x")))
	must(t, s.ForkConversation(ctx, &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid, AgentID: "agent_a", User: "ada", ForkOf: hidden.ID, ForkSeq: 1}))
	tests := []struct {
		agent, user string
		want        []int
	}{
		{"", "", []int{0, 1, 2, 3, 4, 5}},
		{"agent_a", "", []int{0, 2, 3}},
		{"agent_b", "", []int{1, 5}},
		{"", "ada", []int{0, 1, 3}},
		{"", "bob", []int{2, 4}},
		{"agent_a", "ada", []int{0, 3}},
		{"agent_b", "bob", nil},
		{"agent_none", "", nil},
	}
	for _, tt := range tests {
		got, more, err := s.ListConversations(ctx, pid, engram.ConversationFilter{AgentID: tt.agent, User: tt.user, Page: engram.Page{Limit: 100}})
		must(t, err)
		var want []string
		for _, i := range tt.want {
			want = append(want, ids[i])
		}
		var gotIDs []string
		for _, c := range got {
			gotIDs = append(gotIDs, c.ID)
			if c.ProjectID != pid || c.Metadata == nil {
				t.Errorf("listed conversation %+v", c)
			}
		}
		if fmt.Sprint(gotIDs) != fmt.Sprint(want) || more {
			t.Errorf("agent %q user %q: listed %v (more %v), want %v", tt.agent, tt.user, positions(ids, gotIDs), more, tt.want)
		}
	}
}

func testConversationPaging(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	var ids []string
	for i := 0; i < 6; i++ {
		c := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid, AgentID: "agent_a", User: "ada"}
		must(t, s.CreateConversation(ctx, c, nil))
		ids = append(ids, c.ID)
		newConversation(t, s, pid, true) // hidden, between every two: never counted
	}
	for _, f := range []engram.ConversationFilter{{}, {AgentID: "agent_a"}, {User: "ada"}, {AgentID: "agent_a", User: "ada"}} {
		checkPages(t, ids, func(p engram.Page) ([]string, bool, error) {
			f.Page = p
			list, more, err := s.ListConversations(ctx, pid, f)
			out := make([]string, len(list))
			for i, c := range list {
				out[i] = c.ID
			}
			return out, more, err
		})
	}
}

// testConversationOrder: lists run in order of creation time, which an
// imported conversation brings with it; ids break ties.
func testConversationOrder(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	type row struct {
		id      string
		created int64
	}
	var rows []row
	for _, created := range []int64{1700000200, 1700000100, 1700000200, 1700000050, 1700000100, 1700000300} {
		c := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid, CreatedAt: created}
		must(t, s.CreateConversation(ctx, c, nil))
		rows = append(rows, row{c.ID, created})
	}
	slices.SortStableFunc(rows, func(a, b row) int { return cmp.Compare(a.created, b.created) }) // ids ascend already
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.id)
	}
	checkPages(t, ids, func(p engram.Page) ([]string, bool, error) {
		list, more, err := s.ListConversations(ctx, pid, engram.ConversationFilter{Page: p})
		out := make([]string, len(list))
		for i, c := range list {
			out[i] = c.ID
		}
		return out, more, err
	})
}

// testDeletedConversation: a deleted conversation's log is out of reach.
func testDeletedConversation(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	items := msgs("a", "b")
	c := newConversation(t, s, pid, false, items...)
	must(t, s.DeleteConversation(ctx, pid, c.ID))
	checks := map[string]error{}
	_, checks["GetItem"] = s.GetItem(ctx, pid, c.ID, items[0].ID)
	_, _, checks["ListItems"] = s.ListItems(ctx, pid, c.ID, engram.Page{})
	checks["AppendItems"] = s.AppendItems(ctx, pid, c.ID, msgs("c"))
	checks["DeleteItem"] = s.DeleteItem(ctx, pid, c.ID, items[1].ID)
	_, checks["RecentItems"] = s.RecentItems(ctx, pid, c.ID, 0, 10, 0)
	checks["CreateResponse"] = s.CreateResponse(ctx, &engram.Response{ID: engram.NewID("resp"), ProjectID: pid, ConversationID: c.ID, Status: engram.StatusInProgress, BaseSeq: 2}, msgs("d"))
	checks["ForkConversation"] = s.ForkConversation(ctx, &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid, ForkOf: c.ID, ForkSeq: 1})
	for name, err := range checks {
		if engram.ErrorCode(err) != engram.ENotFound {
			t.Errorf("%s on a deleted conversation: err = %v, want ENotFound", name, err)
		}
	}
}

func testItemsAppend(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	c := newConversation(t, s, pid, false, msg("user", "first"))
	batch := []*engram.Item{
		msg("assistant", "hello"),
		{Type: engram.ItemFunctionCall, CallID: "call_1", Name: "lookup", Arguments: `{"q":1}`, Tokens: 3},
		{Type: engram.ItemFunctionCallOutput, CallID: "call_1", Output: "42", Tokens: 2},
		{Type: engram.ItemReasoning, Summary: []engram.Content{{Type: engram.ContentSummaryText, Text: "thinking"}}, Tokens: 1},
		{ID: "msg_chosen_by_caller", Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: "mine"}}, Tokens: 4},
	}
	must(t, s.AppendItems(ctx, pid, c.ID, batch))
	prefixes := []string{"msg_", "fc_", "fco_", "rs_", "msg_chosen_by_caller"}
	for i, it := range batch {
		if !strings.HasPrefix(it.ID, prefixes[i]) || it.Seq != int64(i+2) || it.ConversationID != c.ID || it.CreatedAt == 0 {
			t.Errorf("item %d after append: id %q seq %d conversation %q created_at %d", i, it.ID, it.Seq, it.ConversationID, it.CreatedAt)
		}
	}
	more := msgs("x", "y")
	must(t, s.AppendItems(ctx, pid, c.ID, more))
	if more[0].Seq != 7 || more[1].Seq != 8 {
		t.Errorf("seqs of the next append %d %d, want 7 8", more[0].Seq, more[1].Seq)
	}
	must(t, s.AppendItems(ctx, pid, c.ID, nil))
	conv, err := s.GetConversation(ctx, pid, c.ID)
	must(t, err)
	if conv.LastSeq != 8 || conv.Tokens != 10+10+3+2+1+4+20 {
		t.Errorf("conversation last_seq %d tokens %d", conv.LastSeq, conv.Tokens)
	}
	// Ids are unique in the project: in this conversation or another.
	other := newConversation(t, s, pid, false)
	for _, id := range []string{batch[0].ID, "msg_chosen_by_caller"} {
		dup := msg("user", "dup")
		dup.ID = id
		wantCode(t, s.AppendItems(ctx, pid, c.ID, []*engram.Item{dup}), engram.EConflict)
		dup.ID = id
		wantCode(t, s.AppendItems(ctx, pid, other.ID, []*engram.Item{dup}), engram.EConflict)
	}
	twice := msg("user", "twice")
	twice.ID = "msg_twice"
	again := msg("user", "again")
	again.ID = "msg_twice"
	wantCode(t, s.AppendItems(ctx, pid, other.ID, []*engram.Item{twice, again}), engram.EConflict)
	wantCode(t, s.AppendItems(ctx, pid, "conv_missing", msgs("x")), engram.ENotFound)

	// Appends to one conversation do not move another's seq.
	must(t, s.AppendItems(ctx, pid, other.ID, msgs("o")))
	if got, _ := s.GetConversation(ctx, pid, other.ID); got == nil || got.LastSeq != 1 {
		t.Errorf("other conversation %+v, want last_seq 1", got)
	}
}

// testItemRoundTrip: an item comes back as it went in, in every field of
// its JSON form and the storage fields.
func testItemRoundTrip(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	c := newConversation(t, s, pid, false)
	items := []*engram.Item{
		{Type: engram.ItemMessage, Role: "user", Status: engram.StatusCompleted, Tokens: 7, Content: []engram.Content{
			{Type: engram.ContentInputText, Text: "héllo \"quoted\" \n\u2028 <b>"},
			{Type: engram.ContentInputImage, ImageURL: "data:image/png;base64,AAAA", Detail: "low"},
			{Type: engram.ContentInputFile, FileID: "file_1", FileData: "Zm9v", Filename: "a.txt"},
		}},
		{Type: engram.ItemMessage, Role: "assistant", Status: engram.StatusIncomplete, Content: []engram.Content{
			{Type: engram.ContentOutputText, Text: "answer", Annotations: []json.RawMessage{json.RawMessage(`{"type":"url_citation","url":"https://x"}`)}},
			{Type: engram.ContentRefusal, Refusal: "no"},
		}},
		{Type: engram.ItemFunctionCall, Status: engram.StatusCompleted, CallID: "call_9", Name: "get_weather", Arguments: `{"city":"Lisbon"}`, Tokens: 12},
		{Type: engram.ItemFunctionCallOutput, CallID: "call_9", Output: `{"temp":21}`},
		{Type: engram.ItemReasoning, Summary: []engram.Content{{Type: engram.ContentSummaryText, Text: "plan"}}, EncryptedContent: "opaque=="},
	}
	want := make([]engram.Item, len(items))
	must(t, s.AppendItems(ctx, pid, c.ID, items))
	for i, it := range items {
		want[i] = *it
	}
	list, _, err := s.ListItems(ctx, pid, c.ID, engram.Page{Limit: 10})
	must(t, err)
	if len(list) != len(items) {
		t.Fatalf("listed %d items", len(list))
	}
	for i := range items {
		got, err := s.GetItem(ctx, pid, c.ID, items[i].ID)
		must(t, err)
		for _, g := range []*engram.Item{got, list[i]} {
			if !reflect.DeepEqual(*g, want[i]) {
				gj, _ := json.Marshal(g)
				wj, _ := json.Marshal(want[i])
				t.Errorf("item %d came back as\n%s %+v\nwant\n%s %+v", i, gj, *g, wj, want[i])
			}
		}
	}
}

func testItemPaging(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	c := newConversation(t, s, pid, false)
	var ids []string
	for i := 0; i < 7; i++ {
		items := msgs(fmt.Sprint(i), "deleted")
		must(t, s.AppendItems(ctx, pid, c.ID, items))
		must(t, s.DeleteItem(ctx, pid, c.ID, items[1].ID)) // gaps in seq are skipped
		ids = append(ids, items[0].ID)
	}
	newConversation(t, s, pid, false, msgs("elsewhere", "elsewhere")...)
	checkPages(t, ids, func(p engram.Page) ([]string, bool, error) {
		list, more, err := s.ListItems(ctx, pid, c.ID, p)
		return itemIDs(list), more, err
	})
	_, _, err := s.ListItems(ctx, pid, "conv_missing", engram.Page{})
	wantCode(t, err, engram.ENotFound)
}

func testItemDelete(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	items := msgs("0", "1", "2", "3")
	c := newConversation(t, s, pid, false, items...)
	other := newConversation(t, s, pid, false, msgs("other")...)
	wantCode(t, s.DeleteItem(ctx, pid, other.ID, items[1].ID), engram.ENotFound) // not that conversation's
	_, err := s.GetItem(ctx, pid, other.ID, items[1].ID)
	wantCode(t, err, engram.ENotFound)

	must(t, s.DeleteItem(ctx, pid, c.ID, items[3].ID)) // the newest
	must(t, s.DeleteItem(ctx, pid, c.ID, items[1].ID))
	_, err = s.GetItem(ctx, pid, c.ID, items[1].ID)
	wantCode(t, err, engram.ENotFound)
	wantCode(t, s.DeleteItem(ctx, pid, c.ID, items[1].ID), engram.ENotFound)
	wantCode(t, s.DeleteItem(ctx, pid, c.ID, "msg_missing"), engram.ENotFound)
	list, _, err := s.ListItems(ctx, pid, c.ID, engram.Page{Limit: 10})
	must(t, err)
	if fmt.Sprint(texts(list)) != "[0 2]" {
		t.Errorf("listed after deletes: %v", texts(list))
	}
	recent, err := s.RecentItems(ctx, pid, c.ID, 0, 10, 0)
	must(t, err)
	if fmt.Sprint(texts(recent)) != "[0 2]" {
		t.Errorf("recent after deletes: %v", texts(recent))
	}
	conv, err := s.GetConversation(ctx, pid, c.ID)
	must(t, err)
	if conv.Tokens != 20 {
		t.Errorf("tokens after deletes %d, want 20", conv.Tokens)
	}
	// The log keeps its place: a deleted item's seq is never reused.
	next := msg("user", "4")
	must(t, s.AppendItems(ctx, pid, c.ID, []*engram.Item{next}))
	if next.Seq != 5 {
		t.Errorf("seq after deleting the newest item = %d, want 5", next.Seq)
	}
}

func testRecentItems(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	var items []*engram.Item
	for i := 0; i < 10; i++ {
		it := msg("user", fmt.Sprint(i))
		it.Tokens = 10 + i // 10 … 19
		items = append(items, it)
	}
	c := newConversation(t, s, pid, false, items...)
	tests := []struct {
		maxItems, maxTokens int
		want                string
	}{
		{100, 0, "[0 1 2 3 4 5 6 7 8 9]"},
		{10, 0, "[0 1 2 3 4 5 6 7 8 9]"},
		{3, 0, "[7 8 9]"},
		{1, 0, "[9]"},
		{100, 19 + 18 + 17, "[7 8 9]"},      // exactly the budget
		{100, 19 + 18 + 17 - 1, "[8 9]"},    // one short
		{100, 19 + 18 + 17 + 15, "[7 8 9]"}, // the next does not fit
		{2, 1000, "[8 9]"},
		{100, 5, "[9]"}, // the newest item always, even over the budget
		{100, 1, "[9]"},
	}
	for _, tt := range tests {
		got, err := s.RecentItems(ctx, pid, c.ID, 0, tt.maxItems, tt.maxTokens)
		must(t, err)
		if fmt.Sprint(texts(got)) != tt.want {
			t.Errorf("RecentItems(%d, %d) = %v, want %v", tt.maxItems, tt.maxTokens, texts(got), tt.want)
		}
		for _, it := range got {
			if it.ConversationID != c.ID || it.Seq == 0 || it.Tokens == 0 || it.ID == "" {
				t.Errorf("recent item without its storage fields: %+v", it)
			}
		}
	}
	// upTo reads the log as it stood: items after it are not seen, as a
	// run's window must not see what a concurrent run appended since.
	got, err := s.RecentItems(ctx, pid, c.ID, items[5].Seq, 3, 0)
	must(t, err)
	if fmt.Sprint(texts(got)) != "[3 4 5]" {
		t.Errorf("RecentItems up to item 5 = %v, want [3 4 5]", texts(got))
	}
	got, err = s.RecentItems(ctx, pid, c.ID, items[9].Seq+100, 2, 0)
	must(t, err)
	if fmt.Sprint(texts(got)) != "[8 9]" {
		t.Errorf("RecentItems up to past the end = %v, want [8 9]", texts(got))
	}
	must(t, s.DeleteItem(ctx, pid, c.ID, items[8].ID))
	must(t, s.DeleteItem(ctx, pid, c.ID, items[9].ID))
	got, err = s.RecentItems(ctx, pid, c.ID, 0, 3, 0)
	must(t, err)
	if fmt.Sprint(texts(got)) != "[5 6 7]" {
		t.Errorf("after deleting 8 and 9: %v", texts(got))
	}
	got, err = s.RecentItems(ctx, pid, c.ID, 0, 100, 1)
	must(t, err)
	if fmt.Sprint(texts(got)) != "[7]" {
		t.Errorf("the newest undeleted item always: %v", texts(got))
	}
	empty := newConversation(t, s, pid, false)
	got, err = s.RecentItems(ctx, pid, empty.ID, 0, 10, 0)
	must(t, err)
	if len(got) != 0 {
		t.Errorf("recent items of an empty log: %v", texts(got))
	}
	_, err = s.RecentItems(ctx, pid, "conv_missing", 0, 10, 0)
	wantCode(t, err, engram.ENotFound)
}

func recent(t *testing.T, s engram.Store, pid, convID string, maxItems, maxTokens int) string {
	t.Helper()
	got, err := s.RecentItems(ctx, pid, convID, 0, maxItems, maxTokens)
	must(t, err)
	return fmt.Sprint(texts(got))
}

func tokensOf(t *testing.T, s engram.Store, pid, convID string) int {
	t.Helper()
	conv, err := s.GetConversation(ctx, pid, convID)
	must(t, err)
	return int(conv.Tokens)
}

func testForks(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	parent := newConversation(t, s, pid, true, msgs("a", "b", "c", "d")...)
	fork := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid, AgentID: "agent_a", User: "ada", ForkOf: parent.ID, ForkSeq: 2}
	must(t, s.ForkConversation(ctx, fork))
	if !fork.Hidden || fork.LastSeq != 2 || fork.Tokens != 20 || fork.CreatedAt == 0 {
		t.Fatalf("fork = %+v, want hidden, last_seq 2, tokens 20", fork)
	}
	got, err := s.GetConversation(ctx, pid, fork.ID)
	must(t, err)
	if !got.Hidden || got.ForkOf != parent.ID || got.ForkSeq != 2 || got.LastSeq != 2 || got.AgentID != "agent_a" || got.User != "ada" {
		t.Errorf("GetConversation(fork) = %+v", got)
	}
	if r := recent(t, s, pid, fork.ID, 100, 0); r != "[a b]" {
		t.Errorf("a new fork's window = %v, want [a b]", r)
	}
	e := msg("user", "e")
	must(t, s.AppendItems(ctx, pid, fork.ID, []*engram.Item{e}))
	if e.Seq != 3 {
		t.Errorf("the fork's first item has seq %d, want 3 (after the fork point)", e.Seq)
	}
	// The parent moves on; the fork does not see it, nor the parent the fork.
	must(t, s.AppendItems(ctx, pid, parent.ID, msgs("p5")))
	tests := []struct {
		conv                string
		maxItems, maxTokens int
		want                string
	}{
		{fork.ID, 100, 0, "[a b e]"},
		{fork.ID, 2, 0, "[b e]"},
		{fork.ID, 100, 25, "[b e]"},
		{parent.ID, 100, 0, "[a b c d p5]"},
	}
	for _, tt := range tests {
		if r := recent(t, s, pid, tt.conv, tt.maxItems, tt.maxTokens); r != tt.want {
			t.Errorf("RecentItems(%d, %d) = %v, want %v", tt.maxItems, tt.maxTokens, r, tt.want)
		}
	}
	if n := tokensOf(t, s, pid, fork.ID); n != 30 {
		t.Errorf("fork tokens %d, want 30", n)
	}
	if n := tokensOf(t, s, pid, parent.ID); n != 50 {
		t.Errorf("parent tokens %d, want 50", n)
	}

	// A fork of a fork follows both links.
	fork2 := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid, ForkOf: fork.ID, ForkSeq: 3}
	must(t, s.ForkConversation(ctx, fork2))
	must(t, s.AppendItems(ctx, pid, fork2.ID, []*engram.Item{msg("assistant", "f")}))
	if r := recent(t, s, pid, fork2.ID, 100, 0); r != "[a b e f]" {
		t.Errorf("fork of a fork = %v", r)
	}
	if r := recent(t, s, pid, fork2.ID, 3, 0); r != "[b e f]" {
		t.Errorf("fork of a fork, 3 items = %v", r)
	}
	if n := tokensOf(t, s, pid, fork2.ID); n != 40 {
		t.Errorf("fork of a fork tokens %d, want 40", n)
	}
	// A deleted parent still lends its history to its forks.
	must(t, s.DeleteConversation(ctx, pid, parent.ID))
	if r := recent(t, s, pid, fork2.ID, 100, 0); r != "[a b e f]" {
		t.Errorf("after the parent's deletion = %v", r)
	}
	if n := tokensOf(t, s, pid, fork2.ID); n != 40 {
		t.Errorf("tokens after the parent's deletion %d, want 40", n)
	}
	// Forks are at the tip or inside the log, never past it.
	wantCode(t, s.ForkConversation(ctx, &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid, ForkOf: fork.ID, ForkSeq: 99}), engram.EInvalid)
	wantCode(t, s.ForkConversation(ctx, &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid, ForkOf: "conv_missing", ForkSeq: 0}), engram.ENotFound)
	wantCode(t, s.ForkConversation(ctx, &engram.Conversation{ID: fork.ID, ProjectID: pid, ForkOf: fork.ID, ForkSeq: 1}), engram.EConflict)
	atTip := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid, ForkOf: fork2.ID, ForkSeq: 4}
	must(t, s.ForkConversation(ctx, atTip))
	if r := recent(t, s, pid, atTip.ID, 100, 0); r != "[a b e f]" {
		t.Errorf("a fork at the tip = %v", r)
	}
}

// testForkBelowForkPoint: forking a fork inside the history it shares with
// its parent reads the parent's log only up to the new fork point.
func testForkBelowForkPoint(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	parent := newConversation(t, s, pid, true, msgs("a", "b", "c", "d")...)
	fork := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid, ForkOf: parent.ID, ForkSeq: 3}
	must(t, s.ForkConversation(ctx, fork))
	must(t, s.AppendItems(ctx, pid, fork.ID, msgs("e")))
	low := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid, ForkOf: fork.ID, ForkSeq: 1}
	must(t, s.ForkConversation(ctx, low))
	if low.Tokens != 10 || low.LastSeq != 1 {
		t.Errorf("fork below the fork point: tokens %d last_seq %d, want 10 and 1", low.Tokens, low.LastSeq)
	}
	must(t, s.AppendItems(ctx, pid, low.ID, msgs("z")))
	if r := recent(t, s, pid, low.ID, 100, 0); r != "[a z]" {
		t.Errorf("window = %v, want [a z]", r)
	}
	if n := tokensOf(t, s, pid, low.ID); n != 20 {
		t.Errorf("tokens %d, want 20", n)
	}
}

// testForkSharedDeletion: deleting an item a fork shares hides it from the
// fork too, and the fork's tokens follow.
func testForkSharedDeletion(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	items := msgs("a", "b", "c", "d")
	parent := newConversation(t, s, pid, true, items...)
	fork := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid, ForkOf: parent.ID, ForkSeq: 3}
	must(t, s.ForkConversation(ctx, fork))
	must(t, s.AppendItems(ctx, pid, fork.ID, msgs("e")))
	fork2 := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid, ForkOf: fork.ID, ForkSeq: 4}
	must(t, s.ForkConversation(ctx, fork2))
	early := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid, ForkOf: parent.ID, ForkSeq: 1}
	must(t, s.ForkConversation(ctx, early))

	must(t, s.DeleteItem(ctx, pid, parent.ID, items[1].ID)) // b: shared by fork and fork2, not by early
	must(t, s.DeleteItem(ctx, pid, parent.ID, items[3].ID)) // d: after every fork point
	tests := []struct {
		name   string
		conv   string
		window string
		tokens int
	}{
		{"parent", parent.ID, "[a c]", 20},
		{"fork", fork.ID, "[a c e]", 30},
		{"fork of fork", fork2.ID, "[a c e]", 30},
		{"early fork", early.ID, "[a]", 10},
	}
	for _, tt := range tests {
		if r := recent(t, s, pid, tt.conv, 100, 0); r != tt.window {
			t.Errorf("%s: window %v, want %v", tt.name, r, tt.window)
		}
		if n := tokensOf(t, s, pid, tt.conv); n != tt.tokens {
			t.Errorf("%s: tokens %d, want %d", tt.name, n, tt.tokens)
		}
	}
}

// testCompactionWindow: a window starts at the newest compaction item and
// reads only what came after what it covers; the covered items stay in the
// log.
func testCompactionWindow(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	compaction := func(summary string, through int64) *engram.Item {
		return &engram.Item{Type: engram.ItemCompaction, EncryptedContent: summary, CompactedThrough: through, Tokens: 5}
	}
	c := newConversation(t, s, pid, true, msgs("1", "2", "3", "4")...) // seqs 1-4
	must(t, s.AppendItems(ctx, pid, c.ID, []*engram.Item{compaction("S1", 2)}))
	must(t, s.AppendItems(ctx, pid, c.ID, msgs("6", "7")))
	if r := recent(t, s, pid, c.ID, 100, 0); r != "[S1 3 4 6 7]" {
		t.Errorf("window after one compaction = %s, want [S1 3 4 6 7]", r)
	}
	// The summary is always in the window; the budget cuts the oldest raw
	// items after it (each message costs 10, the summary 5).
	if r := recent(t, s, pid, c.ID, 100, 25); r != "[S1 6 7]" {
		t.Errorf("window of 25 tokens = %s, want [S1 6 7]", r)
	}
	if r := recent(t, s, pid, c.ID, 3, 0); r != "[S1 6 7]" {
		t.Errorf("window of 3 items = %s, want [S1 6 7]", r)
	}
	// A compaction item given as input covers everything before it.
	must(t, s.AppendItems(ctx, pid, c.ID, []*engram.Item{compaction("S2", 0)}))
	must(t, s.AppendItems(ctx, pid, c.ID, msgs("9")))
	if r := recent(t, s, pid, c.ID, 100, 0); r != "[S2 9]" {
		t.Errorf("window after a second compaction = %s, want [S2 9]", r)
	}
	// Read as it stood before the second one, the first still rules.
	got, err := s.RecentItems(ctx, pid, c.ID, 7, 100, 0)
	must(t, err)
	if fmt.Sprint(texts(got)) != "[S1 3 4 6 7]" {
		t.Errorf("window up to seq 7 = %v, want [S1 3 4 6 7]", texts(got))
	}
	// A fork made after the first compaction inherits it.
	fork := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: pid, ForkOf: c.ID, ForkSeq: 7}
	must(t, s.ForkConversation(ctx, fork))
	must(t, s.AppendItems(ctx, pid, fork.ID, msgs("f")))
	if r := recent(t, s, pid, fork.ID, 100, 0); r != "[S1 3 4 6 7 f]" {
		t.Errorf("fork window = %s, want [S1 3 4 6 7 f]", r)
	}
	// Deleting the newest compaction brings back what it covered.
	page, _, err := s.ListItems(ctx, pid, c.ID, engram.Page{Limit: 100, Order: "asc"})
	must(t, err)
	for _, it := range page {
		if it.Type == engram.ItemCompaction && it.Text() == "S2" {
			must(t, s.DeleteItem(ctx, pid, c.ID, it.ID))
		}
	}
	if r := recent(t, s, pid, c.ID, 100, 0); r != "[S1 3 4 6 7 9]" {
		t.Errorf("window after deleting S2 = %s, want [S1 3 4 6 7 9]", r)
	}
	// The covered items are still in the log.
	if len(page) != 9 {
		t.Errorf("log holds %d items, want 9", len(page))
	}
}
