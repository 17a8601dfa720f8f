package engram

import (
	"context"
	"encoding/json"
	"strings"
)

// Retention says how long a project, or one agent, keeps what its runs
// leave behind. Each field counts whole days; 0 keeps for ever (the
// default, so nothing is deleted unless someone asks for it).
//
//   - ConversationsDays: a conversation nobody appended to (or changed the
//     metadata of) for that many days (and up to an hour more: stores
//     note activity to the hour) is deleted with its items (and
//     their full-text entries), the responses that ran in it (with their
//     steps and events) and its extraction state. A conversation with an
//     active response (queued, in progress, waiting) is kept, and so is a
//     conversation another conversation forks from: it holds the fork's
//     history, and goes in a later pass once its forks have gone.
//     Deleted conversations count like the others.
//   - ResponsesDays: a response that ended (completed, failed, cancelled,
//     incomplete) that many days ago is deleted with its steps and its stream
//     events. The items it added stay in their
//     conversation's log as long as the conversation is kept: they are
//     the conversation's history. A hidden conversation (the log of a
//     previous_response_id chain, reachable only through its responses) is
//     kept by the shorter of ConversationsDays and ResponsesDays.
//   - EventsDays: the stream events of a response that ended that many
//     days ago are deleted even when the response itself is kept: a
//     response's stream is most of what it stores, and it is only replayed
//     by a client resuming the stream shortly after.
//
// Usage records are never deleted (they are what is billed), nor memory
// records and memory blocks (keeping them is the point of memory), nor
// the retention log itself.
type Retention struct {
	ConversationsDays int `json:"conversations_days"`
	ResponsesDays     int `json:"responses_days"`
	EventsDays        int `json:"events_days"`
}

// What a purge deletes.
const (
	PurgeConversations = "conversations"
	PurgeResponses     = "responses"
	PurgeEvents        = "events"
)

// PurgeKinds lists the kinds in the order a pass purges them: whole
// conversations first, whose responses and events then need no pass of
// their own.
var PurgeKinds = []string{PurgeConversations, PurgeResponses, PurgeEvents}

// maxRetentionDays bounds a policy (a hundred years) so that a cutoff in
// seconds never overflows.
const maxRetentionDays = 36500

const day = 86400

// Check reports a field that is negative or absurdly large; param prefixes
// the field's name in the error ("retention", "agent.retention").
func (r Retention) Check(param string) error {
	for _, f := range []struct {
		name string
		days int
	}{{"conversations_days", r.ConversationsDays}, {"responses_days", r.ResponsesDays}, {"events_days", r.EventsDays}} {
		if f.days < 0 || f.days > maxRetentionDays {
			name := strings.TrimPrefix(param+"."+f.name, ".")
			return ParamErrorf(EInvalid, name, "Invalid '%s': expected a number of days from 0 (keep for ever) to %d.", name, maxRetentionDays)
		}
	}
	return nil
}

// Cutoff returns the Unix second before which rows of kind expire at now
// (hidden: for a hidden conversation), or 0 when they are kept for ever.
func (r Retention) Cutoff(kind string, hidden bool, now int64) int64 {
	days := 0
	switch kind {
	case PurgeConversations:
		days = r.ConversationsDays
		if hidden && r.ResponsesDays > 0 && (days == 0 || r.ResponsesDays < days) {
			days = r.ResponsesDays
		}
	case PurgeResponses:
		days = r.ResponsesDays
	case PurgeEvents:
		days = r.EventsDays
	}
	if days == 0 {
		return 0
	}
	return now - int64(days)*day
}

// DecodeRetention reads a policy from JSON, refusing unknown fields and
// bad values; param names the field it came in.
func DecodeRetention(data []byte, param string) (Retention, error) {
	var r Retention
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			name = strings.Trim(name, `"`)
			return r, ParamErrorf(EInvalid, strings.TrimPrefix(param+"."+name, "."), "Unknown parameter: '%s'.", strings.TrimPrefix(param+"."+name, "."))
		}
		return r, ParamErrorf(EInvalid, param, "Invalid '%s': expected an object of conversations_days, responses_days and events_days (whole days, 0 keeps for ever).", param)
	}
	return r, r.Check(param)
}

// Purge asks for one batch of a purge: the rows of one kind of one project
// that expired at Now under Policy, or for the rows of an agent named in
// Agents, under that agent's own policy (which replaces the project's
// whole). Limit bounds the rows the batch deletes (about: one response's
// steps and events go together), so that no transaction runs long.
type Purge struct {
	ProjectID string
	Kind      string
	Policy    Retention
	Agents    map[string]Retention
	Now       int64 // Unix seconds
	Limit     int
	// Pass names the pass the batch belongs to: the log keeps one entry
	// per pass, agent, kind and cutoff, counting every batch's rows.
	Pass string
}

// PurgeResult counts what one batch deleted. Deleted counts conversations
// or responses (for events: responses whose events went); Rows counts
// every row deleted, in all tables. A batch that deleted no rows means the
// kind has nothing left to purge.
type PurgeResult struct {
	Deleted int64 `json:"deleted"`
	Rows    int64 `json:"rows"`
}

// DefaultPurgeLimit bounds a purge batch whose caller set no limit.
const DefaultPurgeLimit = 1000

// PurgeCandidateBatch bounds the ids one query of a purge reads; the purge
// asks again while its budget lasts.
const PurgeCandidateBatch = 100

// RetentionTouchSlack is how far a conversation's stored updated_at may lag
// its last append (the stores move it at most once an hour, so that an
// append does not rewrite an indexed column each turn): a purge takes only
// conversations idle that much longer than the policy asks, so that none
// goes early.
const RetentionTouchSlack = 3600

// WithDefaults fills what the caller of a purge batch left unset: the
// limit, and a pass of its own.
func (p Purge) WithDefaults() Purge {
	if p.Limit <= 0 {
		p.Limit = DefaultPurgeLimit
	}
	if p.Pass == "" {
		p.Pass = NewID("rpass")
	}
	return p
}

// StoredRetention reads a policy a store kept; one it cannot read keeps
// everything, rather than delete by a misread policy.
func StoredRetention(data []byte) Retention {
	var r Retention
	if json.Unmarshal(data, &r) != nil {
		return Retention{}
	}
	return r
}

// PurgeTally is the bookkeeping of one batch of a purge, the same for
// every store: which policy covers an agent's rows, what the batch may
// still delete, and what it deleted per agent and cutoff (the retention
// log's entries).
type PurgeTally struct {
	Purge
	Budget int64 // rows the batch may still delete
	Total  PurgeResult
	Log    map[PurgeLogKey]*PurgeResult
}

// PurgeLogKey names a retention log entry of a pass and kind.
type PurgeLogKey struct {
	AgentID string
	Cutoff  int64
}

// NewPurgeTally starts the tally of a batch of p.
func NewPurgeTally(p Purge) PurgeTally {
	return PurgeTally{Purge: p, Budget: int64(p.Limit), Log: map[PurgeLogKey]*PurgeResult{}}
}

// PolicyOf is the retention policy of an agent's rows: its own, or the
// project's.
func (t *PurgeTally) PolicyOf(agentID string) Retention {
	if r, ok := t.Agents[agentID]; ok {
		return r
	}
	return t.Policy
}

// Count records that deleting one expired thing of agentID (deleted: 1 when
// it is gone whole, 0 for part of it) took rows rows.
func (t *PurgeTally) Count(agentID string, cutoff, deleted, rows int64) {
	k := PurgeLogKey{agentID, cutoff}
	e := t.Log[k]
	if e == nil {
		e = &PurgeResult{}
		t.Log[k] = e
	}
	e.Deleted += deleted
	e.Rows += rows
	t.Total.Deleted += deleted
	t.Total.Rows += rows
	t.Budget -= rows
}

// RetentionLogEntry records what a purge pass deleted for one agent (""
// for rows of no agent), kind and cutoff. The store writes it in the same
// transaction as the deletions it counts, so no deletion goes unrecorded.
type RetentionLogEntry struct {
	ID        string `json:"id"`
	ProjectID string `json:"-"`
	Pass      string `json:"pass"`
	AgentID   string `json:"agent,omitempty"`
	Kind      string `json:"kind"`
	Cutoff    int64  `json:"cutoff"`
	Deleted   int64  `json:"deleted"`
	Rows      int64  `json:"rows"`
	CreatedAt int64  `json:"created_at"` // the pass's first batch
	UpdatedAt int64  `json:"updated_at"` // its last batch
}

// RetentionStore keeps retention policies, deletes what they let go and
// logs what it deleted.
type RetentionStore interface {
	// SetRetention stores a project's policy (ENotFound for no project).
	SetRetention(ctx context.Context, projectID string, r Retention) error
	// Purge deletes one batch of p.Kind's expired rows in one
	// transaction and records them in the retention log. Purging is
	// idempotent: nodes may purge the same project at once.
	Purge(ctx context.Context, p Purge) (PurgeResult, error)
	// ListRetentionLog pages a project's retention log by creation.
	ListRetentionLog(ctx context.Context, projectID string, page Page) ([]*RetentionLogEntry, bool, error)
}
