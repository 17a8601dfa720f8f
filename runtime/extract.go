package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/tokens"
)

// Extraction: after an agent's conversation goes idle, or every N turns
// (the agent's memory.extraction policy), a pass asks the model which
// facts, preferences and episodes the new part of the log holds, and writes
// them as records. It runs on the worker pool's clock, never on a
// request's path; passes are claimed with leases, so nodes do not repeat
// each other; and a pass that crashes and runs again writes the records of
// a range under the same ids, so nothing is written twice.

const (
	// extractItems bounds the items one pass reads: a pass due every N
	// turns or after idleness sees a few turns, not a whole history.
	extractItems = 200
	// extractTokens bounds the transcript one pass sends.
	extractTokens = 24_000
	// extractKnown is how many existing records the model is shown, to
	// avoid repeating them and to supersede the ones a turn contradicts.
	extractKnown = 20
)

const extractionInstructions = `You maintain long-term memory about a user for an assistant. From the transcript, extract what is worth remembering in later conversations: facts about the user and their world (people, places, possessions, plans, dates, numbers), their preferences, and notable episodes. Write each memory as one self-contained sentence in the third person ("The user ..."), with dates when the transcript gives them. Do not repeat a known memory. When a new statement contradicts a known memory, write the new one and set "supersedes" to the known memory's id.

Answer with JSON only: {"memories":[{"kind":"fact|preference|episode","text":"...","evidence":["item ids"],"supersedes":"mem_... or empty"}]}. Answer {"memories":[]} when there is nothing new.`

// noteTurn counts a finished turn towards its conversation's extraction.
func (rt *Runtime) noteTurn(ctx context.Context, p *plan, r *engram.Response) {
	if p.agent == nil || !p.agent.Memory.Extraction.On() || p.conv == nil || !p.persist || rt.Memory == nil {
		return
	}
	e := &engram.Extraction{ConversationID: r.ConversationID, ProjectID: r.ProjectID, AgentID: r.AgentID, User: r.User, LastSeq: r.LastSeq}
	if err := rt.Store.NoteTurn(ctx, e, p.agent.Memory.Extraction, engram.Now()); err != nil {
		rt.Logger.Warn("extraction: could not note a turn", "conversation", r.ConversationID, "err", err)
	}
	rt.wakeExtractor()
}

// RunExtractions runs due extraction passes until ctx ends or the node
// stops, looking every PollInterval and when a turn makes one due.
func (rt *Runtime) RunExtractions(ctx context.Context) {
	rt.every(ctx, rt.extractWake, func() {
		for rt.extractDue(ctx) {
		}
	})
}

func (rt *Runtime) wakeExtractor() {
	select {
	case rt.extractWake <- struct{}{}:
	default:
	}
}

// extractDue runs one due pass, reporting whether there was one.
func (rt *Runtime) extractDue(ctx context.Context) bool {
	if rt.Memory == nil || rt.stopping() {
		return false
	}
	lease := rt.newLease()
	lease.Until = time.Now().Add(rt.ExtractTimeout + rt.LeaseDuration).UnixMilli()
	e, err := rt.Store.ClaimExtraction(ctx, lease, time.Now().UnixMilli())
	if err != nil {
		if engram.ErrorCode(err) != engram.ENotFound && ctx.Err() == nil {
			rt.Logger.Warn("extraction: claim failed", "err", err)
		}
		return false
	}
	pctx, cancel := context.WithTimeout(rt.context(), rt.ExtractTimeout)
	written, usage, err := rt.extract(pctx, e)
	cancel()
	e.Passes++
	if err != nil {
		e.Failures++
		e.Status, e.LastError = engram.ExtractionFailed, engram.ErrorMessage(err)
		e.DueAt = engram.Now() + int64(min(60<<min(e.Failures-1, 6), 3600)) // back off, at most an hour
		rt.Logger.Warn("extraction failed", "conversation", e.ConversationID, "err", err)
	} else {
		e.Status, e.Failures, e.LastError = engram.ExtractionIdle, 0, ""
		e.ThroughSeq = e.LastSeq
	}
	e.Records += written
	if err := rt.Store.FinishExtraction(context.WithoutCancel(ctx), e, usage); err != nil {
		rt.Logger.Warn("extraction: could not store the outcome", "conversation", e.ConversationID, "err", err)
	}
	if written > 0 || e.Status == engram.ExtractionFailed {
		// A pass that wrote memory records changed state: it is in the
		// audit log like a write through the API.
		outcome := engram.AuditSuccess
		if e.Status == engram.ExtractionFailed {
			outcome = engram.AuditFailure
		}
		if err := engram.RecordAudit(context.WithoutCancel(ctx), rt.Audit, &engram.AuditEntry{ProjectID: e.ProjectID, Actor: "system:extraction",
			Action: "memory.extract", Resource: e.ConversationID, Outcome: outcome,
			Details: engram.AuditDetails(map[string]any{"records": written, "through_seq": e.ThroughSeq, "error": e.LastError})}); err != nil {
			rt.Logger.Error("extraction: could not record the pass in the audit log", "conversation", e.ConversationID, "err", err)
		}
	}
	return true
}

// extractedMemory is one memory as the model writes it.
type extractedMemory struct {
	Kind       string   `json:"kind"`
	Text       string   `json:"text"`
	Evidence   []string `json:"evidence"`
	Supersedes string   `json:"supersedes"`
}

// extract runs one pass over the log after e.ThroughSeq up to e.LastSeq
// and returns how many records it wrote and the usage of its model call.
func (rt *Runtime) extract(ctx context.Context, e *engram.Extraction) (int, []*engram.UsageRecord, error) {
	conv, err := rt.Store.GetConversation(ctx, e.ProjectID, e.ConversationID)
	if engram.ErrorCode(err) == engram.ENotFound {
		return 0, nil, nil // deleted since: nothing to remember
	} else if err != nil {
		return 0, nil, err
	}
	agent, err := rt.Store.GetAgent(ctx, e.ProjectID, e.AgentID, 0)
	if err != nil {
		return 0, nil, err
	}
	model := agent.Memory.Extraction.Model
	if model == "" {
		model = agent.Model
	}
	prov, name, err := rt.Providers.Resolve(model)
	if err != nil {
		return 0, nil, err
	}
	items, err := rt.Store.RecentItems(ctx, e.ProjectID, conv.ID, e.LastSeq, extractItems, extractTokens)
	if err != nil {
		return 0, nil, err
	}
	var lines []string
	byID := map[string]bool{}
	for _, it := range items {
		if it.Seq <= e.ThroughSeq || it.Type != engram.ItemMessage || (it.Role != "user" && it.Role != "assistant") {
			continue
		}
		byID[it.ID] = true
		lines = append(lines, fmt.Sprintf("[%s] %s (%s): %s", it.ID, it.Role, day(it.CreatedAt), oneLine(it.Text())))
	}
	if len(lines) == 0 {
		return 0, nil, nil
	}
	transcript := strings.Join(lines, "\n")
	scope := engram.MemoryScope{ProjectID: e.ProjectID, AgentID: e.AgentID, User: e.User}
	known, err := rt.Memory.SearchRecords(ctx, engram.MemoryQuery{Scope: scope, Text: transcript, Limit: extractKnown})
	if err != nil {
		return 0, nil, err
	}
	var knownLines []string
	knownIDs := map[string]bool{}
	for _, h := range known {
		knownIDs[h.Record.ID] = true
		knownLines = append(knownLines, fmt.Sprintf("[%s] %s: %s", h.Record.ID, h.Record.Kind, oneLine(h.Record.Text)))
	}
	input := []*engram.Item{}
	if len(knownLines) > 0 {
		input = append(input, &engram.Item{Type: engram.ItemMessage, Role: "developer", Content: []engram.Content{{
			Type: engram.ContentInputText, Text: "Known memories:\n" + strings.Join(knownLines, "\n")}}})
	}
	input = append(input, &engram.Item{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{
		Type: engram.ContentInputText, Text: "Transcript:\n" + transcript}}})
	res, err := prov.Generate(ctx, &engram.ModelRequest{Model: name, Instructions: extractionInstructions, Input: input,
		MaxOutputTokens: 2048, Task: engram.TaskExtraction, User: e.User}, nil)
	if err != nil {
		return 0, nil, err
	}
	u := res.Usage
	if u.InputTokens == 0 && u.OutputTokens == 0 {
		u.InputTokens = tokens.Stable(extractionInstructions) + tokens.Items(input)
		u.OutputTokens = tokens.Items(res.Output)
		u.Estimated = true
	}
	u.TotalTokens = u.InputTokens + u.OutputTokens
	u.StatelessInputTokens = u.InputTokens // work a stateless client would not do: no saving claimed
	usage := []*engram.UsageRecord{{ID: engram.NewID("usage"), ProjectID: e.ProjectID, ConversationID: conv.ID, AgentID: e.AgentID,
		User: e.User, Provider: prov.Name(), Model: name, Usage: u, CreatedAt: engram.Now()}}
	var answer strings.Builder
	for _, it := range res.Output {
		if it.Type == engram.ItemMessage {
			answer.WriteString(it.Text())
		}
	}
	memories, err := parseMemories(answer.String())
	if err != nil {
		return 0, usage, err
	}
	written := 0
	for i, m := range memories {
		kind := m.Kind
		switch kind {
		case engram.RecordFact, engram.RecordPreference, engram.RecordEpisode:
		default:
			kind = engram.RecordFact
		}
		if strings.TrimSpace(m.Text) == "" {
			continue
		}
		var evidence []string
		for _, id := range m.Evidence {
			if byID[id] {
				evidence = append(evidence, id)
			}
		}
		rec := &engram.MemoryRecord{ID: extractedID(conv.ID, e.ThroughSeq, e.LastSeq, i), ProjectID: e.ProjectID, AgentID: e.AgentID, User: e.User,
			Kind: kind, Text: strings.TrimSpace(m.Text), Source: engram.SourceExtraction, ConversationID: conv.ID, ItemIDs: evidence,
			Metadata: map[string]string{}}
		if knownIDs[m.Supersedes] {
			rec.Supersedes = m.Supersedes
		}
		err := rt.Memory.WriteRecord(ctx, rec)
		if rec.Supersedes != "" && err != nil && engram.ErrorCode(err) != engram.EConflict {
			rec.Supersedes = "" // the model named a record it may not supersede: keep the memory
			err = rt.Memory.WriteRecord(ctx, rec)
		}
		switch {
		case err == nil:
			written++
		case engram.ErrorCode(err) == engram.EConflict:
			// written by an earlier run of this pass
		default:
			return written, usage, err
		}
	}
	return written, usage, nil
}

// extractedID names the i-th memory a pass over (from, to] of a log
// writes, the same on every run of that pass.
func extractedID(convID string, from, to int64, i int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s:%d-%d:%d", convID, from, to, i))
	return "mem_" + strings.ToLower(base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:20]))
}

// parseMemories reads the model's JSON answer, tolerating text around it.
func parseMemories(s string) ([]extractedMemory, error) {
	start, end := strings.IndexByte(s, '{'), strings.LastIndexByte(s, '}')
	if start < 0 || end < start {
		return nil, engram.Errorf(engram.EUpstream, "the extraction answer holds no JSON object: %.200q", s)
	}
	var out struct {
		Memories []extractedMemory `json:"memories"`
	}
	if err := json.Unmarshal([]byte(s[start:end+1]), &out); err != nil {
		return nil, engram.Errorf(engram.EUpstream, "the extraction answer is not the JSON asked for: %v", err)
	}
	return out.Memories, nil
}
