package runtime

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/tokens"
)

// The context engine. Every model call reads, in this order: the stable
// prefix (instructions, memory blocks, tool schemas: the same call after
// call, so provider prompt caches hit), the newest compaction summary, the
// recent items after what it covers, and the new input with the memories
// recalled for it. Building it reads only the window from the store (the
// newest compaction item and what follows), never the whole log.

// contextLengthExceeded is OpenAI's answer to a context that does not fit
// when truncation is disabled; the http layer gives it OpenAI's code.
func contextLengthExceeded(tokens, budget int) error {
	return engram.ParamErrorf(engram.EInvalid, "input",
		"Your input exceeds the context window of this model. Please adjust your input and try again. (%d tokens; this model's budget is %d. Set truncation to \"auto\" or turn on compaction with context_management to let Engram fit it.)", tokens, budget)
}

const compactionInstructions = `You are compacting a conversation so it can continue within a limited context window. Write a summary that replaces the messages above for the assistant that continues it: the user's goals, facts about the user and their world (names, numbers, dates, places, preferences), decisions made, open questions and promises, and where the work stands. Keep every specific detail that may matter later; drop pleasantries. Write plain prose or short bullet points, in the conversation's language. If a previous summary is given, fold it in.`

// contextSettings are the run's context policy: the request's where it set
// one, else the agent's, else the defaults.
type contextSettings struct {
	truncation string // "auto" or "disabled"
	compactAt  int    // tokens of context that trigger compaction; 0: off
	keep       int    // tokens of the newest items kept word for word
	summarizer string // model that writes summaries ("" : the run's)
	recall     int    // tokens of recalled memories per call; 0: none
}

// settleContext fixes the run's truncation and compaction threshold on the
// response, where a worker resuming it finds them.
func (p *plan) settleContext(r *engram.Response) {
	var policy engram.ContextPolicy
	if p.agent != nil {
		policy = p.agent.Context
	}
	switch {
	case p.req.Truncation != "":
		r.Truncation = p.req.Truncation
	case policy.Truncation != "":
		r.Truncation = policy.Truncation
	case p.agent != nil:
		r.Truncation = "auto" // an agent's conversations outlive any window
	default:
		r.Truncation = "disabled" // OpenAI's default
	}
	for _, cm := range p.req.ContextManagement {
		if cm.Type == "compaction" {
			r.CompactThreshold = cm.CompactThreshold
			if r.CompactThreshold == 0 {
				r.CompactThreshold = p.budget * 8 / 10
			}
		}
	}
	if r.CompactThreshold == 0 && p.agent != nil && policy.Compaction != "off" {
		r.CompactThreshold = policy.ThresholdTokens
		if r.CompactThreshold == 0 {
			r.CompactThreshold = p.budget * 8 / 10
		}
	}
	r.CompactThreshold = min(r.CompactThreshold, p.budget)
}

// context returns the settings of a response whose truncation and
// threshold are settled.
func (p *plan) context(r *engram.Response) contextSettings {
	cs := contextSettings{truncation: r.Truncation, compactAt: r.CompactThreshold, keep: p.budget / 4}
	if p.agent != nil {
		if k := p.agent.Context.KeepTokens; k > 0 {
			cs.keep = min(k, p.budget/2)
		}
		cs.summarizer = p.agent.Context.CompactionModel
		if p.agent.Memory.Recall != "off" && r.User != "" {
			cs.recall = p.budget / 10
			if t := p.agent.Context.RecallTokens; t > 0 {
				cs.recall = min(t, p.budget/2)
			}
		}
	}
	return cs
}

// historyRoom is how many tokens of history to read for a call whose
// fixed part (instructions, tools, input) costs fixed: the budget's rest
// when older items may simply be dropped; twice the budget when they may
// be summarised, for the summariser to see them; all of it (up to the
// summary) when they must fit.
func (cs contextSettings) historyRoom(budget, fixed int) int {
	if cs.compactAt > 0 {
		return 2 * budget
	}
	if cs.truncation == "disabled" {
		return 0
	}
	return max(budget-fixed-cs.recall, 1)
}

// readHistory reads the window of earlier items for p's run.
func (rt *Runtime) readHistory(ctx context.Context, p *plan, r *engram.Response, upTo int64, fixed int, cached bool) error {
	if p.conv == nil || p.conv.LastSeq == 0 {
		return nil
	}
	cs := p.context(r)
	room := cs.historyRoom(p.budget, fixed)
	convID := p.conv.ID
	if p.forkFrom != nil {
		// A planned fork is not stored yet: its history is its parent's
		// up to the fork point.
		convID, upTo, cached = p.forkFrom.ID, min(upTo, p.conv.ForkSeq), false
	}
	var history []*engram.Item
	ok := false
	if cached {
		history, ok = rt.windows.get(p.conv, rt.MaxWindowItems, room)
	}
	if !ok {
		var err error
		history, err = rt.Store.RecentItems(ctx, p.projectID, convID, upTo, rt.MaxWindowItems, room)
		if err != nil {
			return err
		}
		if cached {
			rt.windows.put(p.conv, history, room)
		}
	}
	if cs.compactAt == 0 && cs.truncation == "auto" && room > 0 {
		// The store gives the newest item even when it alone is over the
		// room; auto truncation drops it too rather than overflow.
		sum := tokens.Items(history)
		for len(history) > 0 && sum > room {
			sum -= history[0].Tokens
			history = history[1:]
		}
	}
	p.history = trimToTurnStart(history)
	if cs.compactAt == 0 && cs.truncation == "disabled" {
		if n := fixed + tokens.Items(p.history); n > p.budget {
			return contextLengthExceeded(n, p.budget)
		}
	}
	return nil
}

// needsCompaction reports whether the next call's context passes the
// run's threshold. Only the first call of a run compacts: the items a run
// adds are not in the log yet, and a summary covers only the log.
func (x *run) needsCompaction() bool {
	if x.cs.compactAt == 0 || x.models > 0 || x.compacted {
		return false
	}
	return x.callTokens() > x.cs.compactAt
}

// callTokens is what the next call would cost with the window as it is.
func (x *run) callTokens() int {
	return tokens.Stable(x.p.instructions()) + toolTokens(x.p.tools) + tokens.Items(x.window)
}

// compact summarises the history before the newest items into a compaction
// item, the first output of the run, and rebuilds the window around it. A
// summariser that fails or says nothing costs the turn nothing: the window
// is truncated instead, and the step says so.
func (x *run) compact(ctx context.Context, s *engram.Step) {
	x.compacted = true
	var previous *engram.Item
	raw := x.p.history
	if len(raw) > 0 && raw[0].Type == engram.ItemCompaction {
		previous, raw = raw[0], raw[1:]
	}
	// A resumed run's input is in its history: it is the turn, never
	// summarised.
	for len(raw) > 0 && raw[len(raw)-1].ResponseID == x.r.ID {
		raw = raw[:len(raw)-1]
	}
	keep := keptTail(raw, x.cs.keep)
	summarise := raw[:len(raw)-len(keep)]
	if len(summarise) == 0 {
		x.truncateWindow(s, "nothing older than the kept items to summarise")
		return
	}
	summary, u, err := x.summarise(ctx, previous, summarise)
	if err != nil || strings.TrimSpace(summary) == "" {
		reason := "the summary came back empty"
		if err != nil {
			reason = "the summariser failed: " + engram.ErrorMessage(err)
		}
		x.rt.Logger.Warn("compaction fell back to truncation", "response", x.r.ID, "reason", reason)
		x.truncateWindow(s, reason)
		return
	}
	it := &engram.Item{ID: engram.NewID("cmp"), Type: engram.ItemCompaction, Status: engram.StatusCompleted,
		EncryptedContent: summary, CompactedThrough: summarise[len(summarise)-1].Seq}
	x.addOutput(it)
	x.applyCompaction(it)
	x.emitItem(it)
	s.Output = append(s.Output, it)
	x.addUsage(u)
	s.Usage = &u
	c := stepContext(s)
	c.Compacted, c.CompactionID = len(summarise), it.ID
}

// keptTail is the newest items within keep tokens, starting at a message so
// that no tool call is parted from its output.
func keptTail(items []*engram.Item, keep int) []*engram.Item {
	sum, i := 0, len(items)
	for i > 0 && sum+items[i-1].Tokens <= keep {
		sum += items[i-1].Tokens
		i--
	}
	return trimToTurnStart(items[i:])
}

// summarise asks the summariser for a summary of items, folding in the
// previous summary.
func (x *run) summarise(ctx context.Context, previous *engram.Item, items []*engram.Item) (string, engram.Usage, error) {
	prov, model := x.p.provider, x.p.model
	if x.cs.summarizer != "" {
		pr, name, err := x.rt.Providers.Resolve(x.cs.summarizer)
		if err != nil {
			return "", engram.Usage{}, err
		}
		prov, model = pr, name
	}
	input := make([]*engram.Item, 0, len(items)+2)
	if previous != nil {
		input = append(input, previous)
	}
	input = append(input, pairedOnly(items)...)
	input = append(input, &engram.Item{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{
		Type: engram.ContentInputText, Text: "Summarise the conversation so far as instructed."}}})
	req := &engram.ModelRequest{Model: model, Instructions: compactionInstructions, Input: modelInput(input, nil),
		MaxOutputTokens: max(x.cs.keep/2, 512), Task: engram.TaskCompaction, User: x.r.User}
	res, err := prov.Generate(ctx, req, nil)
	if err != nil {
		return "", engram.Usage{}, err
	}
	var b strings.Builder
	for _, it := range res.Output {
		if it.Type == engram.ItemMessage {
			b.WriteString(it.Text())
		}
	}
	u := res.Usage
	if u.InputTokens == 0 && u.OutputTokens == 0 {
		u.InputTokens = tokens.Stable(req.Instructions) + tokens.Items(req.Input)
		u.OutputTokens = tokens.Count(b.String())
		u.Estimated = true
	}
	if u.TotalTokens == 0 {
		u.TotalTokens = u.InputTokens + u.OutputTokens
	}
	u.StatelessInputTokens = u.InputTokens
	return b.String(), u, nil
}

// truncateWindow drops the oldest history items until the call fits the
// budget: compaction's fallback.
func (x *run) truncateWindow(s *engram.Step, reason string) {
	over := x.callTokens() - x.p.budget
	drop := 0
	for drop < len(x.p.history) && over > 0 {
		over -= x.p.history[drop].Tokens
		drop++
	}
	if drop > 0 {
		kept := trimToTurnStart(x.p.history[drop:])
		drop = len(x.p.history) - len(kept)
		x.window = append(append([]*engram.Item(nil), kept...), x.window[len(x.p.history):]...)
		x.p.history = kept
	}
	c := stepContext(s)
	c.Truncated, c.Note = drop, reason
}

// applyCompaction makes a compaction item (made by this run, or replayed
// from its journal) the head of the window in place of what it covers.
func (x *run) applyCompaction(it *engram.Item) {
	x.compacted = true
	window := make([]*engram.Item, 0, len(x.window))
	window = append(window, it)
	for _, w := range x.window {
		switch {
		case w == it:
		case w.Type == engram.ItemCompaction && w.Origin != engram.OriginOutput:
			// the summary this one folded in
		case w.Seq > 0 && w.Seq <= it.CompactedThrough && w.ResponseID != x.r.ID:
			// covered
		default:
			window = append(window, w)
		}
	}
	x.window = window
}

// modelInput is the window as a provider reads it: compaction summaries as
// developer messages (providers know no compaction items), and the memories
// recalled for the turn beside its newest user message. Nothing here is
// stored: the log keeps the items as they were.
func modelInput(window []*engram.Item, recalled *engram.Item) []*engram.Item {
	out := make([]*engram.Item, 0, len(window)+1)
	for _, it := range window {
		if it.Type == engram.ItemCompaction {
			it = &engram.Item{Type: engram.ItemMessage, Role: "developer", Status: engram.StatusCompleted,
				Content: []engram.Content{{Type: engram.ContentInputText, Text: "Summary of the earlier conversation:\n" + it.EncryptedContent}}}
		}
		out = append(out, it)
	}
	if recalled == nil {
		return out
	}
	for i := len(out) - 1; i >= 0; i-- {
		if it := out[i]; it.Type == engram.ItemMessage && it.Role == "user" {
			withMemory := *it
			withMemory.Content = append([]engram.Content{{Type: engram.ContentInputText, Text: recalled.Text()}}, it.Content...)
			withMemory.Tokens = it.Tokens + recalled.Tokens
			out[i] = &withMemory
			break
		}
	}
	return out
}

// Compact implements engram.ResponseService.
func (rt *Runtime) Compact(ctx context.Context, projectID string, req *engram.ResponseRequest) (*engram.Compaction, error) {
	input := req.Input
	tokens.Stamp(input)
	stored := req.Conversation != ""
	if stored && len(input) > 0 {
		return nil, engram.ParamErrorf(engram.EInvalid, "input",
			"With a conversation, compact summarises its log: add the input to the conversation first.")
	}
	p, err := rt.plan(ctx, projectID, req)
	if err != nil {
		return nil, err
	}
	r := p.newResponse()
	if p.conv != nil && !p.newConv {
		// What a compacting turn reads: the log up to its newest summary,
		// as far back as the summariser can take (a planned fork's is its
		// parent's, up to the fork point).
		convID, upTo := p.conv.ID, p.conv.LastSeq
		if p.forkFrom != nil {
			convID, upTo = p.forkFrom.ID, p.conv.ForkSeq
		}
		history, err := rt.Store.RecentItems(ctx, p.projectID, convID, upTo, rt.MaxWindowItems, 2*p.budget)
		if err != nil {
			return nil, err
		}
		p.history = trimToTurnStart(history)
	}
	x := rt.newRun(p, r, engram.Lease{}, input, nil, nil)
	all := append(append([]*engram.Item(nil), p.history...), input...)
	var previous *engram.Item
	if len(all) > 0 && all[0].Type == engram.ItemCompaction {
		previous, all = all[0], all[1:]
	}
	// Asked to compact, compact: keep at most a quarter of what there is.
	keep := keptTail(all, min(x.cs.keep, tokens.Items(all)/4))
	if len(keep) == 0 && len(all) > 0 {
		keep = trimToTurnStart(all[len(all)-1:]) // the last message at least
	}
	summarise := all[:len(all)-len(keep)]
	out := &engram.Compaction{ID: engram.NewID("resp"), CreatedAt: engram.Now()}
	if len(summarise) == 0 && previous == nil {
		out.Output = freshCopies(keep) // nothing to summarise: the context is already short
		return out, nil
	}
	summary, u, err := x.summarise(ctx, previous, summarise)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(summary) == "" {
		return nil, engram.Errorf(engram.EUpstream, "the model returned an empty summary")
	}
	it := &engram.Item{Type: engram.ItemCompaction, Status: engram.StatusCompleted, EncryptedContent: summary}
	if len(summarise) > 0 {
		it.CompactedThrough = summarise[len(summarise)-1].Seq
	} else {
		it.CompactedThrough = previous.CompactedThrough
	}
	if stored {
		tokens.Stamp([]*engram.Item{it})
		if err := rt.Store.AppendItems(ctx, projectID, p.conv.ID, []*engram.Item{it}); err != nil {
			return nil, err
		}
	} else {
		it.ID = engram.NewID("cmp")
		it.CompactedThrough = 0 // given back as input, it covers what precedes it
		keep = freshCopies(keep)
	}
	out.Output = append([]*engram.Item{it}, keep...)
	out.Usage = u
	return out, nil
}

// CountInputTokens implements engram.ResponseService.
func (rt *Runtime) CountInputTokens(ctx context.Context, projectID string, req *engram.ResponseRequest) (int, error) {
	input := req.Input
	tokens.Stamp(input)
	p, err := rt.plan(ctx, projectID, req)
	if err != nil {
		return 0, err
	}
	r := p.newResponse()
	fixed := tokens.Stable(p.instructions()) + toolTokens(p.tools) + tokens.Items(input)
	if p.conv != nil && !p.newConv {
		if err := rt.readHistory(ctx, p, r, p.conv.LastSeq, fixed, true); err != nil {
			return 0, err
		}
	}
	return fixed + tokens.Items(p.history), nil
}

// freshCopies copies items under new ids: a client sends a compaction's
// output back as input, and input items become new items of a log, where
// an id is unique.
func freshCopies(items []*engram.Item) []*engram.Item {
	out := make([]*engram.Item, len(items))
	for i, it := range items {
		c := *it
		c.ID = engram.NewID(engram.ItemIDPrefix(c.Type))
		c.Seq, c.ConversationID, c.ResponseID, c.Origin = 0, "", "", ""
		out[i] = &c
	}
	return out
}

// Recall: before a turn's first model call, the memories most relevant to
// its input (the user's records, and messages of the user's other
// conversations with the agent) are placed beside the input, within the
// run's recall budget, and the step lists them.

// recallCandidates bounds how many of each kind are considered;
// standingRecords how many of the user's newest records are.
const (
	recallCandidates = 8
	standingRecords  = 50
)

func recordLine(rec *engram.MemoryRecord) string {
	return fmt.Sprintf("- [%s] %s: %s", day(rec.OccurredAt), rec.Kind, oneLine(rec.Text))
}

func (x *run) recall(ctx context.Context, s *engram.Step) {
	x.recallDone = true
	if x.cs.recall <= 0 || x.rt.Memory == nil || x.r.User == "" {
		return
	}
	query := ""
	for i := len(x.window) - 1; i >= 0; i-- {
		if it := x.window[i]; it.Type == engram.ItemMessage && it.Role == "user" {
			query = it.Text()
			break
		}
	}
	if strings.TrimSpace(query) == "" {
		return
	}
	scope := engram.MemoryScope{ProjectID: x.p.projectID, AgentID: x.r.AgentID, User: x.r.User}
	records, err := x.rt.Memory.SearchRecords(ctx, engram.MemoryQuery{Scope: scope, Text: query, Limit: recallCandidates})
	if err != nil {
		x.rt.Logger.Warn("recall: record search failed", "response", x.r.ID, "err", err)
	}
	items, err := x.rt.Memory.SearchConversations(ctx, scope, query, recallCandidates, x.r.ConversationID)
	if err != nil {
		x.rt.Logger.Warn("recall: conversation search failed", "response", x.r.ID, "err", err)
	}
	inWindow := make(map[string]bool, len(x.window))
	for _, it := range x.window {
		inWindow[it.ID] = true
	}
	// Interleave the two rankings (their scores are not comparable), best
	// first, within two thirds of the budget; then the user's standing
	// facts and preferences, newest first, fill what is left: what a
	// message does not mention may still matter to the answer (a diet to a
	// recipe), and such records are few and short.
	var lines []string
	var got []engram.Recalled
	taken := map[string]bool{}
	said := map[string]bool{} // what the lines say: one memory, one line
	budget := x.cs.recall - tokens.Count(recallHeader)
	relevant := budget * 2 / 3
	add := func(text, line string, r engram.Recalled, limit int) {
		n := tokens.Count(line) + 1
		key := strings.ToLower(oneLine(text))
		if n > limit || taken[r.ID] || said[key] {
			return
		}
		budget -= n
		relevant -= n
		r.Tokens = n
		taken[r.ID], said[key] = true, true
		lines, got = append(lines, line), append(got, r)
	}
	for i := 0; i < recallCandidates && relevant > 0; i++ {
		if i < len(records) {
			rec := records[i].Record
			add(rec.Text, recordLine(rec), engram.Recalled{Type: "record", ID: rec.ID, Score: records[i].Score}, relevant)
		}
		if i < len(items) && !inWindow[items[i].Item.ID] {
			it := items[i].Item
			add(it.Text(), fmt.Sprintf("- [%s] %s said, in an earlier conversation: %s", day(it.CreatedAt), speaker(it.Role), oneLine(it.Text())),
				engram.Recalled{Type: "item", ID: it.ID, ConversationID: items[i].ConversationID, Score: items[i].Score}, relevant)
		}
	}
	if budget > 0 {
		standing, _, err := x.rt.Store.ListRecords(ctx, scope, engram.RecordFilter{Page: engram.Page{Limit: standingRecords, Order: "desc"}})
		if err != nil {
			x.rt.Logger.Warn("recall: listing standing records failed", "response", x.r.ID, "err", err)
		}
		for _, rec := range standing {
			if rec.Kind == engram.RecordFact || rec.Kind == engram.RecordPreference {
				add(rec.Text, recordLine(rec), engram.Recalled{Type: "record", ID: rec.ID}, budget)
			}
		}
	}
	if len(got) == 0 {
		return
	}
	text := recallHeader + strings.Join(lines, "\n") + "\n</memories>\n"
	x.recalled = &engram.Item{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: text}}}
	x.recalled.Tokens = tokens.Item(x.recalled)
	stepContext(s).Recalled = got
}

const recallHeader = "<memories>\nWhat you remember of this user that may bear on this message (dated; when two disagree, the newer holds):\n"

func stepContext(s *engram.Step) *engram.StepContext {
	if s.Context == nil {
		s.Context = &engram.StepContext{}
	}
	return s.Context
}

func day(unix int64) string { return time.Unix(unix, 0).UTC().Format("2006-01-02") }

func speaker(role string) string {
	if role == "assistant" {
		return "you"
	}
	return "the user"
}

// oneLine folds a memory onto one line, at most about 600 characters.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 600 {
		s = s[:600] + "…"
	}
	return s
}
