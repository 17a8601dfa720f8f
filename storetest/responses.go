package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/engram-run/engram"
)

func newResponse(pid, convID string, baseSeq int64) *engram.Response {
	return &engram.Response{ID: engram.NewID("resp"), ProjectID: pid, ConversationID: convID, Model: "scripted/echo",
		Status: engram.StatusInProgress, Metadata: map[string]string{}, BaseSeq: baseSeq}
}

func testResponses(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	c := newConversation(t, s, pid, true)
	r := newResponse(pid, c.ID, 0)
	input := msgs("q1", "q2")
	must(t, s.CreateResponse(ctx, r, input))
	if r.LastSeq != 2 || r.CreatedAt == 0 {
		t.Fatalf("after create: last_seq %d created_at %d", r.LastSeq, r.CreatedAt)
	}
	for i, it := range input {
		if it.ResponseID != r.ID || it.Origin != engram.OriginInput || it.Seq != int64(i+1) || !strings.HasPrefix(it.ID, "msg_") || it.CreatedAt == 0 {
			t.Errorf("input item %d = %+v", i, it)
		}
	}
	got, err := s.GetResponse(ctx, pid, r.ID)
	must(t, err)
	if got.Status != engram.StatusInProgress || got.Output == nil || len(got.Output) != 0 || got.ConversationID != c.ID || got.LastSeq != 2 || got.ProjectID != pid {
		t.Fatalf("GetResponse in progress = %+v", got)
	}
	stored, err := s.GetItem(ctx, pid, c.ID, input[0].ID)
	must(t, err)
	if stored.ResponseID != r.ID || stored.Origin != engram.OriginInput {
		t.Errorf("stored input item %+v", stored)
	}

	out := []*engram.Item{
		msg("assistant", "a1"),
		{Type: engram.ItemFunctionCall, CallID: "call_1", Name: "f", Arguments: "{}", Status: engram.StatusCompleted, Tokens: 5},
		{Type: engram.ItemReasoning, Summary: []engram.Content{{Type: engram.ContentSummaryText, Text: "why"}}, Tokens: 1},
	}
	r.Status, r.CompletedAt = engram.StatusCompleted, engram.Now()
	r.Usage = &engram.Usage{InputTokens: 20, OutputTokens: 16, TotalTokens: 36, StatelessInputTokens: 20}
	usage := []*engram.UsageRecord{{ID: engram.NewID("usage"), ProjectID: pid, ResponseID: r.ID, ConversationID: c.ID, Provider: "scripted", Model: "echo",
		Usage: engram.Usage{InputTokens: 20, OutputTokens: 16}, CreatedAt: engram.Now()}}
	must(t, s.FinishResponse(ctx, r, engram.RunEnd{Output: out, Usage: usage}))
	if r.LastSeq != 5 {
		t.Errorf("last_seq after finish %d, want 5", r.LastSeq)
	}
	for i, it := range out {
		if it.ResponseID != r.ID || it.Origin != engram.OriginOutput || it.Seq != int64(3+i) || it.ID == "" {
			t.Errorf("output item %d = %+v", i, it)
		}
	}
	got, err = s.GetResponse(ctx, pid, r.ID)
	must(t, err)
	if got.Status != engram.StatusCompleted || got.CompletedAt != r.CompletedAt || got.LastSeq != 5 || got.Usage == nil || *got.Usage != *r.Usage {
		t.Errorf("GetResponse finished = %+v", got)
	}
	if fmt.Sprint(itemIDs(got.Output)) != fmt.Sprint(itemIDs(out)) || got.Output[0].Text() != "a1" || got.Output[1].CallID != "call_1" || got.Output[2].Summary[0].Text != "why" {
		t.Errorf("output = %v, want %v in order", itemIDs(got.Output), itemIDs(out))
	}
	for _, it := range got.Output {
		if it.Origin != engram.OriginOutput || it.ResponseID != r.ID {
			t.Errorf("output item %+v", it)
		}
	}
	conv, err := s.GetConversation(ctx, pid, c.ID)
	must(t, err)
	if conv.LastSeq != 5 || conv.Tokens != 20+16 {
		t.Errorf("conversation after the turn: last_seq %d tokens %d", conv.LastSeq, conv.Tokens)
	}
	if r := recent(t, s, pid, c.ID, 100, 0); r != "[q1 q2 a1 f {} why]" {
		t.Errorf("the log after the turn: %v", r)
	}

	// The next turn continues from the tip.
	next := newResponse(pid, c.ID, 5)
	next.PreviousResponseID = r.ID
	must(t, s.CreateResponse(ctx, next, msgs("q3")))
	next.Status = engram.StatusCompleted
	must(t, s.FinishResponse(ctx, next, engram.RunEnd{}))
	if next.LastSeq != 6 {
		t.Errorf("a response without output ends at its input: last_seq %d", next.LastSeq)
	}
	got, err = s.GetResponse(ctx, pid, next.ID)
	must(t, err)
	if len(got.Output) != 0 || got.PreviousResponseID != r.ID || got.LastSeq != 6 {
		t.Errorf("second response %+v", got)
	}

	wantCode(t, s.CreateResponse(ctx, &engram.Response{ID: r.ID, ProjectID: pid, ConversationID: c.ID, BaseSeq: 6, Status: engram.StatusInProgress}, nil), engram.EConflict)
	_, err = s.GetResponse(ctx, pid, "resp_missing")
	wantCode(t, err, engram.ENotFound)
	wantCode(t, s.FinishResponse(ctx, &engram.Response{ID: "resp_missing", ProjectID: pid, ConversationID: c.ID, Status: engram.StatusCompleted}, engram.RunEnd{}), engram.ENotFound)
	wantCode(t, s.CreateResponse(ctx, newResponse(pid, "conv_missing", 0), msgs("x")), engram.ENotFound)

	must(t, s.DeleteResponse(ctx, pid, r.ID))
	_, err = s.GetResponse(ctx, pid, r.ID)
	wantCode(t, err, engram.ENotFound)
	wantCode(t, s.DeleteResponse(ctx, pid, r.ID), engram.ENotFound)
	_, _, err = s.ListInputItems(ctx, pid, r.ID, engram.Page{})
	wantCode(t, err, engram.ENotFound)
	// The log keeps what the response said.
	if r := recent(t, s, pid, c.ID, 100, 0); r != "[q1 q2 a1 f {} why q3]" {
		t.Errorf("the log after deleting a response: %v", r)
	}
	if _, err := s.GetResponse(ctx, pid, next.ID); err != nil {
		t.Errorf("deleting one response deleted another: %v", err)
	}
}

// testResponseFields: every field of a response comes back as stored.
func testResponseFields(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	c := newConversation(t, s, pid, false)
	temp, topP, strict := 0.5, 0.9, true
	r := &engram.Response{ID: engram.NewID("resp"), ProjectID: pid, ConversationID: c.ID, Conversation: c.ID, PreviousResponseID: "resp_prev",
		AgentID: "agent_x", AgentVersion: 3, Model: "agent/keeper", Instructions: "Be brief.",
		Tools:      []engram.ToolSpec{{Type: engram.ToolFunction, Name: "f", Description: "does f", Parameters: json.RawMessage(`{"type":"object","properties":{}}`), Strict: &strict}},
		ToolChoice: json.RawMessage(`{"type":"function","name":"f"}`), Temperature: &temp, TopP: &topP, MaxOutputTokens: 100, MaxToolCalls: 3,
		ParallelToolCalls: true, Truncation: "auto", Store: true, Background: true, User: "ada", KeyID: "key_1", KeyRole: "invoker", Metadata: map[string]string{"k": "v"},
		Status: engram.StatusQueued, BaseSeq: 0}
	must(t, s.CreateResponse(ctx, r, nil))
	want := *r
	want.Output = []*engram.Item{}
	got, err := s.GetResponse(ctx, pid, r.ID)
	must(t, err)
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("created response came back as\n%+v\nwant\n%+v", *got, want)
	}

	r.Status, r.IncompleteReason, r.CompletedAt = engram.StatusIncomplete, "max_output_tokens", engram.Now()
	r.Usage = &engram.Usage{InputTokens: 1, CachedTokens: 2, OutputTokens: 3, ReasoningTokens: 4, TotalTokens: 5, StatelessInputTokens: 6, Estimated: true}
	must(t, s.FinishResponse(ctx, r, engram.RunEnd{}))
	want = *r
	want.Output = []*engram.Item{}
	got, err = s.GetResponse(ctx, pid, r.ID)
	must(t, err)
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("finished response came back as\n%+v\nwant\n%+v", *got, want)
	}

	failed := newResponse(pid, c.ID, 0)
	must(t, s.CreateResponse(ctx, failed, msgs("boom")))
	failed.Status, failed.Error = engram.StatusFailed, &engram.ResponseError{Code: "server_error", Message: "the model failed"}
	must(t, s.FinishResponse(ctx, failed, engram.RunEnd{}))
	got, err = s.GetResponse(ctx, pid, failed.ID)
	must(t, err)
	if got.Status != engram.StatusFailed || got.Error == nil || *got.Error != *failed.Error {
		t.Errorf("failed response = %+v", got)
	}
}

// testResponseBaseSeq: a hidden log (a chain of responses) takes a new
// response only from its tip; a visible conversation takes any.
func testResponseBaseSeq(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	tests := []struct {
		hidden  bool
		baseSeq int64
		want    string
	}{
		{true, 2, ""},
		{true, 1, engram.EConflict},
		{true, 0, engram.EConflict},
		{true, 3, engram.EConflict},
		{false, 2, ""},
		{false, 1, ""},
		{false, 0, ""},
	}
	for _, tt := range tests {
		c := newConversation(t, s, pid, tt.hidden, msgs("a", "b")...)
		r := newResponse(pid, c.ID, tt.baseSeq)
		err := s.CreateResponse(ctx, r, msgs("q"))
		if engram.ErrorCode(err) != tt.want && (err != nil || tt.want != "") {
			t.Errorf("hidden %v base %d: err %v, want %q", tt.hidden, tt.baseSeq, err, tt.want)
		}
		conv, gerr := s.GetConversation(ctx, pid, c.ID)
		must(t, gerr)
		_, rerr := s.GetResponse(ctx, pid, r.ID)
		if tt.want != "" && (conv.LastSeq != 2 || engram.ErrorCode(rerr) != engram.ENotFound) {
			t.Errorf("hidden %v base %d: a refused response left last_seq %d, response %v", tt.hidden, tt.baseSeq, conv.LastSeq, rerr)
		}
		if tt.want == "" && (conv.LastSeq != 3 || rerr != nil) {
			t.Errorf("hidden %v base %d: last_seq %d, response %v", tt.hidden, tt.baseSeq, conv.LastSeq, rerr)
		}
	}
}

// testResponsesShareConversation: a second response on a busy
// conversation is queued with its input held back; it starts when the
// first ends, so the log keeps each turn whole, and items appended through
// the API in between sit between the turns.
func testResponsesShareConversation(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	c := newConversation(t, s, pid, false, msgs("before")...)
	r1, r2 := newResponse(pid, c.ID, 1), newResponse(pid, c.ID, 1)
	must(t, s.CreateResponse(ctx, r1, msgs("in1")))
	must(t, s.CreateResponse(ctx, r2, msgs("in2a", "in2b")))
	if r1.Status != engram.StatusInProgress || r2.Status != engram.StatusQueued {
		t.Fatalf("statuses %s and %s, want in_progress and queued", r1.Status, r2.Status)
	}
	in, _, err := s.ListInputItems(ctx, pid, r2.ID, engram.Page{Limit: 10})
	must(t, err)
	if fmt.Sprint(texts(in)) != "[in2a in2b]" {
		t.Errorf("a queued response's input items: %v", texts(in))
	}
	// The queue does not move while r1 runs.
	_, err = s.ClaimRun(ctx, engram.Lease{Owner: "w", Until: farFuture}, now(), r2.ID)
	wantCode(t, err, engram.ENotFound)
	r1.Status = engram.StatusCompleted
	must(t, s.FinishResponse(ctx, r1, engram.RunEnd{Output: []*engram.Item{msg("assistant", "out1a"), msg("assistant", "out1b")}}))
	must(t, s.AppendItems(ctx, pid, c.ID, msgs("between")))
	lease := engram.Lease{Owner: "w", Until: farFuture}
	claimed, err := s.ClaimRun(ctx, lease, now(), "")
	must(t, err)
	if claimed.ID != r2.ID || claimed.Status != engram.StatusInProgress || claimed.BaseSeq != 5 || claimed.LastSeq != 7 || claimed.StartedAt == 0 {
		t.Fatalf("claimed %s %s base %d last %d started %d, want %s in_progress 5 7", claimed.ID, claimed.Status, claimed.BaseSeq, claimed.LastSeq, claimed.StartedAt, r2.ID)
	}
	claimed.Status = engram.StatusCompleted
	must(t, s.FinishResponse(ctx, claimed, engram.RunEnd{Output: []*engram.Item{msg("assistant", "out2")}, Lease: lease}))
	tests := []struct {
		r        *engram.Response
		in, out  string
		wantLast int64
	}{
		{r1, "[in1]", "[out1a out1b]", 4},
		{r2, "[in2a in2b]", "[out2]", 8},
	}
	for _, tt := range tests {
		got, err := s.GetResponse(ctx, pid, tt.r.ID)
		must(t, err)
		in, _, err := s.ListInputItems(ctx, pid, tt.r.ID, engram.Page{Limit: 10})
		must(t, err)
		if fmt.Sprint(texts(in)) != tt.in || fmt.Sprint(texts(got.Output)) != tt.out || got.LastSeq != tt.wantLast {
			t.Errorf("response: input %v output %v last_seq %d, want %v %v %d", texts(in), texts(got.Output), got.LastSeq, tt.in, tt.out, tt.wantLast)
		}
	}
	log, _, err := s.ListItems(ctx, pid, c.ID, engram.Page{Limit: 20})
	must(t, err)
	if got := fmt.Sprint(texts(log)); got != "[before in1 out1a out1b between in2a in2b out2]" {
		t.Errorf("log %s", got)
	}
}

func testInputItemPaging(t *testing.T, s engram.Store) {
	pid := newProject(t, s)
	c := newConversation(t, s, pid, false, msgs("history")...)
	input := msgs("0", "1", "2", "3", "4", "5")
	r := newResponse(pid, c.ID, 1)
	must(t, s.CreateResponse(ctx, r, input))
	r.Status = engram.StatusCompleted
	must(t, s.FinishResponse(ctx, r, engram.RunEnd{Output: []*engram.Item{msg("assistant", "out")}}))
	checkPages(t, itemIDs(input), func(p engram.Page) ([]string, bool, error) {
		list, more, err := s.ListInputItems(ctx, pid, r.ID, p)
		for _, it := range list {
			if it.Origin != engram.OriginInput || it.ResponseID != r.ID {
				t.Errorf("input item %+v", it)
			}
		}
		return itemIDs(list), more, err
	})
	_, _, err := s.ListInputItems(ctx, pid, "resp_missing", engram.Page{})
	wantCode(t, err, engram.ENotFound)
}
