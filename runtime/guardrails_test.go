package runtime_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/provider"
	"github.com/engram-run/engram/provider/scripted"
	"github.com/engram-run/engram/runtime"
	"github.com/engram-run/engram/sqlite"
	"github.com/engram-run/engram/tool"
)

// recordingProvider is the scripted provider, keeping the text of every
// request it receives.
type recordingProvider struct {
	*scripted.Provider
	mu   sync.Mutex
	seen []string
}

func (p *recordingProvider) Generate(ctx context.Context, req *engram.ModelRequest, emit func(engram.ModelEvent)) (*engram.ModelResult, error) {
	b, _ := json.Marshal(req)
	p.mu.Lock()
	p.seen = append(p.seen, string(b))
	p.mu.Unlock()
	return p.Provider.Generate(ctx, req, emit)
}

func (p *recordingProvider) sent() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.seen, "\n")
}

const (
	pii      = "Mail ada@example.org or call +1 415 555 0132; my card is 4111 1111 1111 1111 and 4111 1111 1111 1112 is not one."
	rawEmail = "ada@example.org"
	rawPhone = "415 555 0132"
	rawCard  = "4111 1111 1111 1111"
)

func setupGuarded(t *testing.T, g *engram.Guardrails) (*runtime.Runtime, *recordingProvider, string) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "engram.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p := &engram.Project{ID: engram.NewID("proj"), Name: "p", CreatedAt: engram.Now()}
	if err := db.CreateProject(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	rec := &recordingProvider{Provider: scripted.New()}
	rt := runtime.New(db, provider.NewRegistry(rec), tool.Builtins(), nil)
	a := &engram.Agent{ID: engram.NewID("agent"), ProjectID: p.ID, Name: "keeper", Model: "scripted/echo", Guardrails: g}
	if err := rt.ValidateAgent(a); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateAgent(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Stop)
	return rt, rec, p.ID
}

var piiRedactions = []engram.Redaction{{Builtin: "email"}, {Builtin: "credit_card"}, {Builtin: "phone"}}

func noRawPII(t *testing.T, where, text string) {
	t.Helper()
	for _, raw := range []string{rawEmail, rawPhone, rawCard} {
		if strings.Contains(text, raw) {
			t.Errorf("%s holds %q: %s", where, raw, text)
		}
	}
}

// TestInputRedaction: redacted before the model sees it, before it is
// stored, and so in what the model answers.
func TestInputRedaction(t *testing.T) {
	rt, rec, pid := setupGuarded(t, &engram.Guardrails{Input: engram.Filters{Redact: piiRedactions}})
	conv := newConversation(t, rt, pid)
	r := turn(t, rt, pid, conv, "keeper", "", pii)
	if r.Status != engram.StatusCompleted {
		t.Fatal(r.Status)
	}
	noRawPII(t, "the model's request", rec.sent())
	if !strings.Contains(rec.sent(), "[REDACTED:email]") || !strings.Contains(rec.sent(), "[REDACTED:credit_card]") || !strings.Contains(rec.sent(), "[REDACTED:phone]") {
		t.Errorf("the model's request = %s", rec.sent())
	}
	// A number failing Luhn's check is no card: it stays.
	if !strings.Contains(rec.sent(), "4111 1111 1111 1112") {
		t.Errorf("a non-card number was redacted: %s", rec.sent())
	}
	items, _, err := rt.Store.ListItems(context.Background(), pid, conv, engram.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var stored strings.Builder
	for _, it := range items {
		stored.WriteString(it.Text() + "\n")
	}
	noRawPII(t, "the stored conversation", stored.String())
	if !strings.Contains(stored.String(), "[REDACTED:email]") {
		t.Errorf("stored = %s", stored.String())
	}
	noRawPII(t, "the output", r.Output[0].Text())
}

// TestOutputRedaction: the model's output is redacted before it is
// returned, streamed or stored; streamed, no delta holds raw text.
func TestOutputRedaction(t *testing.T) {
	rt, _, pid := setupGuarded(t, &engram.Guardrails{Output: engram.Filters{Redact: piiRedactions}})
	conv := newConversation(t, rt, pid)
	var deltas strings.Builder
	var events []engram.StoredEvent
	r, err := rt.CreateResponse(context.Background(), pid, &engram.ResponseRequest{Model: "agent/keeper", Conversation: conv, Stream: true,
		Input: []*engram.Item{{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: pii}}}}},
		func(ev engram.StoredEvent) { events = append(events, ev) })
	if err != nil || r.Status != engram.StatusCompleted {
		t.Fatalf("%v %+v", err, r)
	}
	for _, ev := range events {
		var e struct {
			Delta string `json:"delta"`
		}
		json.Unmarshal(ev.Data, &e)
		if ev.Type == engram.EventOutputTextDelta {
			deltas.WriteString(e.Delta)
		}
		noRawPII(t, "stream event "+ev.Type, string(ev.Data))
	}
	if deltas.String() != r.Output[0].Text() || !strings.Contains(deltas.String(), "[REDACTED:credit_card]") {
		t.Errorf("deltas %q, output %q", deltas.String(), r.Output[0].Text())
	}
	noRawPII(t, "the output", r.Output[0].Text())
	items, _, err := rt.Store.ListItems(context.Background(), pid, conv, engram.Page{Limit: 100, Order: "asc"})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || !strings.Contains(items[0].Text(), rawCard) {
		t.Fatalf("items = %d; the input (no input filter) should keep its text", len(items))
	}
	noRawPII(t, "the stored output", items[1].Text())
	// The same, not streamed.
	r = turn(t, rt, pid, conv, "keeper", "", "Reach me at bob@example.com.")
	if got := r.Output[0].Text(); strings.Contains(got, "bob@example.com") || !strings.Contains(got, "[REDACTED:email]") {
		t.Errorf("output = %q", got)
	}
}

// TestBlockedInput: a blocked term refuses the request and stores nothing.
func TestBlockedInput(t *testing.T) {
	rt, rec, pid := setupGuarded(t, &engram.Guardrails{Input: engram.Filters{Block: []string{"project nightingale", "Ünïcode"}}})
	conv := newConversation(t, rt, pid)
	for _, text := range []string{"Tell me about PROJECT   Nightingale.", "ünïcode!"} {
		_, err := rt.CreateResponse(context.Background(), pid, &engram.ResponseRequest{Model: "agent/keeper", Conversation: conv,
			Input: []*engram.Item{{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: text}}}}}, nil)
		if engram.ErrorCode(err) != engram.EInvalid || !strings.Contains(engram.ErrorMessage(err), "guardrails block") {
			t.Errorf("%q: err = %v", text, err)
		}
	}
	items, _, _ := rt.Store.ListItems(context.Background(), pid, conv, engram.Page{})
	if len(items) != 0 || rec.sent() != "" {
		t.Errorf("a refused request left %d items and reached the model: %s", len(items), rec.sent())
	}
	// Whole words only: "nightingales" is not "nightingale".
	if r := turn(t, rt, pid, conv, "keeper", "", "The project nightingales sang."); r.Status != engram.StatusCompleted {
		t.Errorf("a longer word was blocked: %s", r.Status)
	}
}

// TestBlockedOutput: output holding a blocked term ends the response
// incomplete (content_filter) and the text is neither returned nor stored.
func TestBlockedOutput(t *testing.T) {
	rt, _, pid := setupGuarded(t, &engram.Guardrails{Output: engram.Filters{Block: []string{"queen excluder"}}})
	conv := newConversation(t, rt, pid)
	var events []engram.StoredEvent
	r, err := rt.CreateResponse(context.Background(), pid, &engram.ResponseRequest{Model: "agent/keeper", Conversation: conv, Stream: true,
		Input: []*engram.Item{{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: "Should I use a queen excluder?"}}}}},
		func(ev engram.StoredEvent) { events = append(events, ev) })
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != engram.StatusIncomplete || r.IncompleteReason != engram.ReasonContentFilter || len(r.Output) != 0 {
		t.Fatalf("response: %s %q, %d output items", r.Status, r.IncompleteReason, len(r.Output))
	}
	// The scripted model streams a word at a time: the blocked phrase
	// would show only in the deltas joined, never in one event.
	var deltas strings.Builder
	for _, ev := range events {
		var e struct {
			Delta string `json:"delta"`
		}
		json.Unmarshal(ev.Data, &e)
		if ev.Type == engram.EventOutputTextDelta {
			deltas.WriteString(e.Delta)
		}
	}
	if strings.Contains(deltas.String(), "excluder") {
		t.Errorf("the stream's deltas hold the blocked text: %q", deltas.String())
	}
	items, _, _ := rt.Store.ListItems(context.Background(), pid, conv, engram.Page{Limit: 100})
	if len(items) != 1 || items[0].Role != "user" {
		t.Errorf("stored %d items; want the input alone", len(items))
	}
}

func TestGuardrailValidation(t *testing.T) {
	rt, _, _ := setupGuarded(t, nil)
	for _, tt := range []struct {
		g     engram.Guardrails
		param string
	}{
		{engram.Guardrails{Input: engram.Filters{Redact: []engram.Redaction{{Pattern: "(unclosed"}}}}, "guardrails.input.redact[0].pattern"},
		{engram.Guardrails{Output: engram.Filters{Redact: []engram.Redaction{{Builtin: "email"}, {Builtin: "passport"}}}}, "guardrails.output.redact[1].builtin"},
		{engram.Guardrails{Input: engram.Filters{Redact: []engram.Redaction{{Pattern: "a*"}}}}, "guardrails.input.redact[0].pattern"},
		{engram.Guardrails{Input: engram.Filters{Redact: []engram.Redaction{{}}}}, "guardrails.input.redact[0]"},
		{engram.Guardrails{Input: engram.Filters{Block: []string{"ok", "  "}}}, "guardrails.input.block[1]"},
	} {
		err := rt.ValidateAgent(&engram.Agent{Name: "x", Model: "scripted/echo", Guardrails: &tt.g})
		var e *engram.Error
		if !asError(err, &e) || e.Code != engram.EInvalid || e.Param != tt.param {
			t.Errorf("%+v: err = %v, want 400 on %s", tt.g, err, tt.param)
		}
	}
}

func asError(err error, target **engram.Error) bool {
	e, ok := err.(*engram.Error)
	if ok {
		*target = e
	}
	return ok
}

// TestBuiltinDetectors: what each detector takes, and what it leaves.
func TestBuiltinDetectors(t *testing.T) {
	rt, _, pid := setupGuarded(t, &engram.Guardrails{Input: engram.Filters{Redact: []engram.Redaction{
		{Builtin: "email"}, {Builtin: "credit_card"}, {Builtin: "iban"}, {Builtin: "us_ssn"}, {Builtin: "ipv4"}, {Builtin: "api_key"}, {Builtin: "phone"}}}})
	for _, tt := range []struct{ in, want string }{
		{"card 4111-1111-1111-1111 ok", "card [REDACTED:credit_card] ok"},
		{"iban GB82 WEST 1234 5698 7654 32 ok", "iban [REDACTED:iban] ok"},
		{"ssn 078-05-1120", "ssn [REDACTED:us_ssn]"},
		{"host 192.168.1.20 up", "host [REDACTED:ipv4] up"},
		{"key sk-proj-abcdefghijklmnop1234 leaked", "key [REDACTED:api_key] leaked"},
		{"aws AKIAIOSFODNN7EXAMPLE", "aws [REDACTED:api_key]"},
		{"call (415) 555-0132 now", "call [REDACTED:phone] now"},
		{"on 2026-05-10 at 10.05.2026", "on 2026-05-10 at 10.05.2026"},
		{"version 1.2.3 and 42 bees", "version 1.2.3 and 42 bees"},
	} {
		r := turn(t, rt, pid, "", "keeper", "", tt.in)
		if got := strings.TrimPrefix(r.Output[0].Text(), "echo: "); got != tt.want {
			t.Errorf("%q → %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestInputRedactionBackground: a background run's input is redacted
// before it is held in the queue, not only before it reaches the log.
func TestInputRedactionBackground(t *testing.T) {
	rt, rec, pid := setupGuarded(t, &engram.Guardrails{Input: engram.Filters{Redact: piiRedactions}})
	conv := newConversation(t, rt, pid)
	r, err := rt.CreateResponse(context.Background(), pid, &engram.ResponseRequest{Model: "agent/keeper", Conversation: conv, Background: true, Stream: true,
		Input: []*engram.Item{{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: pii}}}}}, nil)
	if err != nil || r.Status != engram.StatusCompleted {
		t.Fatalf("%v %+v", err, r)
	}
	noRawPII(t, "the model's request", rec.sent())
	in, _, err := rt.Store.ListInputItems(context.Background(), pid, r.ID, engram.Page{})
	if err != nil || len(in) != 1 {
		t.Fatalf("input items: %v %d", err, len(in))
	}
	noRawPII(t, "the stored input", in[0].Text())
}
