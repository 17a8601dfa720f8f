package engram

import "context"

// Memory record kinds.
const (
	RecordFact       = "fact"       // a statement about the user or the world
	RecordPreference = "preference" // what the user likes, wants or avoids
	RecordEpisode    = "episode"    // something that happened, with its time
	RecordPassage    = "passage"    // a piece of a document or a conversation
)

// Where a memory record came from.
const (
	SourceAPI        = "api"        // written through /v1/memory/records
	SourceTool       = "tool"       // written by an agent with memory_write
	SourceExtraction = "extraction" // extracted from a conversation after it went idle
)

// MemoryScope names whose memory is meant: one project, one agent and one
// end user. Every read and write of records and of past conversations is
// filtered by all three in the store's query, so no path can reach another
// project's, agent's or user's memory. An empty AgentID or User is a scope
// of its own (records of no particular agent or user), not a wildcard.
type MemoryScope struct {
	ProjectID string
	AgentID   string
	User      string
}

// MemoryRecord is a long-term fact, preference, episode or passage in one
// scope. Records are append-only: a correction is a new record that
// Supersedes the old one, which stays (marked SupersededBy) and is left out
// of searches unless asked for.
type MemoryRecord struct {
	ID        string            `json:"id"`
	ProjectID string            `json:"-"`
	AgentID   string            `json:"agent,omitempty"`
	User      string            `json:"user,omitempty"`
	Kind      string            `json:"kind"`
	Text      string            `json:"text"`
	Metadata  map[string]string `json:"metadata"`
	Source    string            `json:"source"`
	// ConversationID and ItemIDs point at the evidence in a log, when the
	// record came from one.
	ConversationID string   `json:"conversation,omitempty"`
	ItemIDs        []string `json:"items,omitempty"`
	Supersedes     string   `json:"supersedes,omitempty"`
	SupersededBy   string   `json:"superseded_by,omitempty"`
	// OccurredAt is when the fact was stated or the episode happened (Unix
	// seconds); recency ranks by it. It defaults to CreatedAt.
	OccurredAt int64 `json:"occurred_at"`
	CreatedAt  int64 `json:"created_at"`
	// Embedding is the record's vector under EmbeddingModel, when an
	// embedding model is configured; never shown.
	Embedding      []float32 `json:"-"`
	EmbeddingModel string    `json:"-"`
}

// Scope returns the record's scope.
func (r *MemoryRecord) Scope() MemoryScope {
	return MemoryScope{ProjectID: r.ProjectID, AgentID: r.AgentID, User: r.User}
}

// RecordFilter selects records to list within a scope.
type RecordFilter struct {
	Kind              string
	IncludeSuperseded bool
	Page              Page
}

// RankedRecord is one record a store's search found, with its rank score
// (higher is better; comparable only within one result list).
type RankedRecord struct {
	Record *MemoryRecord
	Score  float64
}

// RankedItem is one item of a past conversation a search found.
type RankedItem struct {
	Item  *Item
	Score float64
}

// RecordStore keeps memory records and searches them and past
// conversations. Searches take terms already cut from the query text by the
// memory package, so that each database builds its own full-text syntax
// from them (FTS5 MATCH, tsquery) and no user input reaches that syntax
// unquoted.
type RecordStore interface {
	// CreateRecord stores r (assigning ID, CreatedAt, OccurredAt when
	// zero). When r.Supersedes names a record, that record must be in the
	// same scope (else ENotFound) and not superseded already (else
	// EConflict); it is marked superseded in the same transaction. A
	// record is searchable the moment CreateRecord returns.
	CreateRecord(ctx context.Context, r *MemoryRecord) error
	GetRecord(ctx context.Context, projectID, id string) (*MemoryRecord, error)
	ListRecords(ctx context.Context, scope MemoryScope, f RecordFilter) ([]*MemoryRecord, bool, error)
	DeleteRecord(ctx context.Context, projectID, id string) error
	// SearchRecordsText ranks the scope's records by BM25 over terms (any
	// term may match; more and rarer matches rank higher), best first, at
	// most k.
	SearchRecordsText(ctx context.Context, scope MemoryScope, terms []string, k int, includeSuperseded bool) ([]RankedRecord, error)
	// SearchRecordsVector ranks the scope's records embedded with model by
	// cosine similarity to vec, best first, at most k.
	SearchRecordsVector(ctx context.Context, scope MemoryScope, vec []float32, model string, k int, includeSuperseded bool) ([]RankedRecord, error)
	// SearchItemsText ranks the messages of the scope's conversations
	// (hidden ones too: a chain of responses is a conversation) by BM25
	// over terms, best first, at most k, leaving out conversation
	// excludeConversation (the one whose recent items are already in the
	// window). Deleted items and deleted conversations are never found.
	SearchItemsText(ctx context.Context, scope MemoryScope, terms []string, k int, excludeConversation string) ([]RankedItem, error)
}

// BlockStore keeps memory blocks and their versions.
type BlockStore interface {
	// CreateBlock stores version 1; UpdateBlock stores the next
	// version when the stored one is still expectVersion (else EConflict:
	// two editors never silently overwrite each other); a value longer
	// than the block's limit is EInvalid. GetBlocks returns the named
	// blocks that exist, in the order asked.
	CreateBlock(ctx context.Context, b *MemoryBlock) error
	GetBlock(ctx context.Context, projectID, id string) (*MemoryBlock, error)
	GetBlocks(ctx context.Context, projectID string, ids []string) ([]*MemoryBlock, error)
	ListBlocks(ctx context.Context, projectID string, page Page) ([]*MemoryBlock, bool, error)
	UpdateBlock(ctx context.Context, b *MemoryBlock, expectVersion int) error
	ListBlockVersions(ctx context.Context, projectID, id string) ([]*MemoryBlock, error)
	DeleteBlock(ctx context.Context, projectID, id string) error
}

// MemoryBlock is a small labelled text always placed in an agent's context
// (a persona, a user profile, project facts). Agents list the blocks they
// see, so one block can be shared by several agents. Every change is a new
// version; the old ones are kept.
type MemoryBlock struct {
	ID          string            `json:"id"`
	ProjectID   string            `json:"-"`
	Label       string            `json:"label"`
	Description string            `json:"description,omitempty"`
	Value       string            `json:"value"`
	Limit       int               `json:"limit"` // characters
	ReadOnly    bool              `json:"read_only,omitempty"`
	Version     int               `json:"version"`
	Metadata    map[string]string `json:"metadata"`
	// Who made this version: "api", or "agent" with the response and the
	// tool call (whose items in the log record the edit).
	EditedBy       string `json:"edited_by"`
	ConversationID string `json:"conversation,omitempty"`
	ResponseID     string `json:"response,omitempty"`
	CallID         string `json:"call_id,omitempty"`
	CreatedAt      int64  `json:"created_at"`
	UpdatedAt      int64  `json:"updated_at"`
}

// DefaultBlockLimit is a block's size limit in characters when none is given.
const DefaultBlockLimit = 2000

// MemoryQuery is a search of one scope's records.
type MemoryQuery struct {
	Scope             MemoryScope
	Text              string
	Limit             int
	Kinds             []string
	IncludeSuperseded bool
	// Mode is "hybrid" (the default: BM25, vectors when an embedding
	// model is configured, and recency, fused) or "bm25".
	Mode string
}

// MemoryHit is one search result.
type MemoryHit struct {
	Record *MemoryRecord `json:"record"`
	Score  float64       `json:"score"`
}

// ItemHit is one message of a past conversation a search found.
type ItemHit struct {
	Item           *Item   `json:"item"`
	ConversationID string  `json:"conversation"`
	Score          float64 `json:"score"`
}

// MemoryService writes and retrieves memory: the memory package implements
// it over a MemoryStore and an optional embedding model.
type MemoryService interface {
	// WriteRecord embeds r when an embedding model is configured and
	// stores it; it is searchable when WriteRecord returns.
	WriteRecord(ctx context.Context, r *MemoryRecord) error
	SearchRecords(ctx context.Context, q MemoryQuery) ([]MemoryHit, error)
	// SearchConversations searches the scope's past conversations'
	// messages, leaving out excludeConversation.
	SearchConversations(ctx context.Context, scope MemoryScope, text string, limit int, excludeConversation string) ([]ItemHit, error)
}

// Embedder turns texts into vectors: an OpenAI-compatible /embeddings
// endpoint or Ollama.
type Embedder interface {
	// Model names the embedding model; vectors of different models are
	// never compared.
	Model() string
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// Extraction is the state of memory extraction for one conversation: an
// asynchronous pass, off the request path, that asks the model which facts
// and preferences a conversation's new items hold and writes them as
// records.
type Extraction struct {
	ConversationID string `json:"conversation"`
	ProjectID      string `json:"-"`
	AgentID        string `json:"agent,omitempty"`
	User           string `json:"user,omitempty"`
	// Status: "pending" (new turns wait, due at DueAt), "running", "idle"
	// (everything extracted) or "failed" (retried at DueAt).
	Status string `json:"status"`
	// ThroughSeq is the last seq of the log extracted; LastSeq the log's
	// last seq when the latest turn was noted.
	ThroughSeq   int64  `json:"through_seq"`
	LastSeq      int64  `json:"last_seq"`
	PendingTurns int    `json:"pending_turns"`
	DueAt        int64  `json:"due_at,omitempty"`
	Records      int    `json:"records"` // written by all passes so far
	Passes       int    `json:"passes"`
	Failures     int    `json:"failures"` // consecutive
	LastError    string `json:"last_error,omitempty"`
	UpdatedAt    int64  `json:"updated_at"`
	Lease        Lease  `json:"-"`
}

// Extraction statuses.
const (
	ExtractionPending = "pending"
	ExtractionRunning = "running"
	ExtractionIdle    = "idle"
	ExtractionFailed  = "failed"
)

// ExtractionStore keeps the extraction state of conversations.
type ExtractionStore interface {
	// NoteTurn records that e.ConversationID's log grew to e.LastSeq by one
	// turn (creating its state on the first): it counts the turn and sets
	// the pass due when policy says (DueAt).
	NoteTurn(ctx context.Context, e *Extraction, policy ExtractionPolicy, now int64) error
	// ClaimExtraction takes the most overdue pending or failed extraction
	// due at or before now under lease (ENotFound when none is).
	ClaimExtraction(ctx context.Context, lease Lease, now int64) (*Extraction, error)
	// FinishExtraction stores the outcome of a pass held under e.Lease
	// (Status idle, or pending when turns came meanwhile, or failed) with
	// the usage of its model call, in one transaction.
	FinishExtraction(ctx context.Context, e *Extraction, usage []*UsageRecord) error
	GetExtraction(ctx context.Context, projectID, conversationID string) (*Extraction, error)
}

// DueAt is when a pass is due after a turn that leaves pendingTurns turns
// unextracted: at once when EveryTurns is reached, else IdleSeconds after
// this turn (a later turn pushes it back: the conversation is not idle);
// 0 when the policy waits for more turns.
func (p ExtractionPolicy) DueAt(pendingTurns int, now int64) int64 {
	if p.EveryTurns > 0 && pendingTurns >= p.EveryTurns {
		return now
	}
	if p.IdleSeconds > 0 {
		return now + int64(p.IdleSeconds)
	}
	return 0
}

// On reports whether the policy extracts at all.
func (p ExtractionPolicy) On() bool { return p.EveryTurns > 0 || p.IdleSeconds > 0 }
