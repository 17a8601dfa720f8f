// Package storetest is the contract every engram.Store must keep. Each
// database package runs the same suite: Run(t, open). It speaks only to the
// interface, so what it checks is what callers may rely on.
package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/engram-run/engram"
)

// Run runs the contract suite. open returns a new, empty store; Run closes
// it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) engram.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s engram.Store)
	}{
		{"Projects", testProjects},
		{"Keys", testKeys},
		{"ProjectUpdate", testProjectUpdate},
		{"ProjectWithKey", testProjectWithKey},
		{"AgentVersions", testAgentVersions},
		{"AgentNames", testAgentNames},
		{"AgentPaging", testAgentPaging},
		{"Conversations", testConversations},
		{"ConversationFilters", testConversationFilters},
		{"ConversationPaging", testConversationPaging},
		{"ConversationOrderIsCreation", testConversationOrder},
		{"DeletedConversation", testDeletedConversation},
		{"ItemsAppend", testItemsAppend},
		{"ItemRoundTrip", testItemRoundTrip},
		{"ItemPaging", testItemPaging},
		{"ItemDelete", testItemDelete},
		{"RecentItems", testRecentItems},
		{"CompactionWindow", testCompactionWindow},
		{"UsageTotals", testUsageTotals},
		{"Budgets", testBudgets},
		{"BudgetSpend", testBudgetSpend},
		{"Extractions", testExtractions},
		{"Forks", testForks},
		{"ForkBelowForkPoint", testForkBelowForkPoint},
		{"ForkSharedDeletion", testForkSharedDeletion},
		{"Responses", testResponses},
		{"ResponseFields", testResponseFields},
		{"ResponseBaseSeq", testResponseBaseSeq},
		{"ResponsesShareConversation", testResponsesShareConversation},
		{"InputItemPaging", testInputItemPaging},
		{"ConcurrencyPolicies", testConcurrencyPolicies},
		{"Leases", testLeases},
		{"StepsAndEvents", testStepsAndEvents},
		{"PauseAndResume", testPauseAndResume},
		{"Cancel", testCancel},
		{"ListResponses", testListResponses},
		{"Schedules", testSchedules},
		{"ScheduleAdvance", testScheduleAdvance},
		{"DueSchedules", testDueSchedules},
		{"SchedulePaging", testSchedulePaging},
		{"Connectors", testConnectors},
		{"CredentialsNotUnder", testCredentialsNotUnder},
		{"Blocks", testBlocks},
		{"BlockReadOnly", testBlockReadOnly},
		{"GetBlocks", testGetBlocks},
		{"BlockScoping", testBlockScoping},
		{"BlockDelete", testBlockDelete},
		{"BlockPaging", testBlockPaging},
		{"ProjectScoping", testProjectScoping},
		{"MemoryRecords", testMemoryRecords},
		{"RetentionPolicy", testRetentionPolicy},
		{"RetentionConversations", testRetentionConversations},
		{"RetentionHidden", testRetentionHidden},
		{"RetentionResponses", testRetentionResponses},
		{"RetentionEvents", testRetentionEvents},
		{"AuditChain", testAuditChain},
		{"AuditConcurrent", testAuditConcurrent},
		{"AuditFilters", testAuditFilters},
		{"Policies", testPolicies},
		{"FailedAppendLeavesNothing", testAtomicAppend},
		{"FailedCreateConversationLeavesNothing", testAtomicCreateConversation},
		{"FailedCreateResponseLeavesNothing", testAtomicCreateResponse},
		{"FailedFinishResponseLeavesNothing", testAtomicFinishResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tt.fn(t, s)
		})
	}
}

var ctx = context.Background()

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if engram.ErrorCode(err) != code {
		t.Fatalf("err = %v, want code %s", err, code)
	}
}

func newProject(t *testing.T, s engram.Store) string {
	t.Helper()
	p := &engram.Project{ID: engram.NewID("proj"), Name: "p", CreatedAt: engram.Now()}
	must(t, s.CreateProject(ctx, p))
	return p.ID
}

// msg is a message item of 10 tokens.
func msg(role, text string) *engram.Item {
	part := engram.ContentInputText
	if role == "assistant" {
		part = engram.ContentOutputText
	}
	return &engram.Item{Type: engram.ItemMessage, Role: role, Status: engram.StatusCompleted,
		Content: []engram.Content{{Type: part, Text: text}}, Tokens: 10}
}

// msgs returns user messages with the given texts.
func msgs(texts ...string) []*engram.Item {
	out := make([]*engram.Item, len(texts))
	for i, text := range texts {
		out[i] = msg("user", text)
	}
	return out
}

func newConversation(t *testing.T, s engram.Store, projectID string, hidden bool, items ...*engram.Item) *engram.Conversation {
	t.Helper()
	c := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: projectID, Hidden: hidden, Metadata: map[string]string{}}
	must(t, s.CreateConversation(ctx, c, items))
	return c
}

func texts(items []*engram.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Text()
	}
	return out
}

func itemIDs(items []*engram.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

// expectPage is the model of paging every list follows: rows ascending is
// the list in creation order; After and Before are exclusive cursors in
// the page's order; a page with only Before is the one just before it.
func expectPage(ascending []string, p engram.Page) ([]string, bool) {
	rows := slices.Clone(ascending)
	if p.Desc() {
		slices.Reverse(rows)
	}
	lo, hi := 0, len(rows)
	if p.After != "" {
		lo = slices.Index(rows, p.After) + 1
	}
	if p.Before != "" {
		hi = slices.Index(rows, p.Before)
	}
	if hi < lo { // cursors crossed
		return nil, false
	}
	window := rows[lo:hi]
	limit := p.Limit
	if limit <= 0 {
		limit = 20
	}
	if len(window) <= limit {
		return window, false
	}
	if p.Before != "" && p.After == "" {
		return window[len(window)-limit:], true
	}
	return window[:limit], true
}

// pageCases are the pages every list is checked with; ascending holds the
// list's ids in creation order (at least 5).
func pageCases(ascending []string) []engram.Page {
	n := len(ascending)
	pages := []engram.Page{
		{Limit: 10, After: ascending[n-1], Before: ascending[0]}, // crossed
		{Order: "desc", Limit: 10, After: ascending[0], Before: ascending[n-1]},
	}
	for _, order := range []string{"asc", "desc"} {
		ids := slices.Clone(ascending) // in the page's order
		if order == "desc" {
			slices.Reverse(ids)
		}
		pages = append(pages,
			engram.Page{Order: order},
			engram.Page{Order: order, Limit: 2},
			engram.Page{Order: order, Limit: n},
			engram.Page{Order: order, Limit: n - 1},
			engram.Page{Order: order, Limit: 2, After: ids[1]},
			engram.Page{Order: order, Limit: 2, After: ids[n-2]},
			engram.Page{Order: order, Limit: 10, After: ids[n-1]},
			engram.Page{Order: order, Limit: 10, After: ids[0]},
			engram.Page{Order: order, Limit: 2, Before: ids[3]},
			engram.Page{Order: order, Limit: 2, Before: ids[1]},
			engram.Page{Order: order, Limit: 10, Before: ids[2]},
			engram.Page{Order: order, Limit: 2, After: ids[0], Before: ids[n-1]},
			engram.Page{Order: order, Limit: 10, After: ids[0], Before: ids[n-1]},
		)
	}
	return pages
}

// checkPages checks list against expectPage on every page of pageCases.
func checkPages(t *testing.T, ids []string, list func(engram.Page) ([]string, bool, error)) {
	t.Helper()
	for _, p := range pageCases(ids) {
		got, more, err := list(p)
		if err != nil {
			t.Fatalf("page %+v: %v", p, err)
		}
		want, wantMore := expectPage(ids, p)
		if !slices.Equal(got, want) || more != wantMore {
			t.Errorf("page %+v = %v (has_more %v), want %v (has_more %v)", p, positions(ids, got), more, positions(ids, want), wantMore)
		}
	}
}

// positions names rows by their place in creation order, for messages.
func positions(ids, rows []string) []string {
	out := make([]string, len(rows))
	for i, id := range rows {
		out[i] = fmt.Sprint(slices.Index(ids, id))
	}
	return out
}
