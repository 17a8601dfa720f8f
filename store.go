package engram

import "context"

// Store keeps Engram's state. Every method that changes state does so in one
// transaction, so a crash never leaves half a change. Every method is scoped
// by project in its query: a row of another project is ENotFound, never
// returned. Implementations: sqlite (default) and postgres; both pass the
// contract suite in storetest.
type Store interface {
	// Projects and keys.
	CreateProject(ctx context.Context, p *Project) error
	GetProject(ctx context.Context, id string) (*Project, error)
	ListProjects(ctx context.Context) ([]*Project, error)
	// CreateProjectWithKey stores a new project and its first key (k's
	// ProjectID is set to p's) in one transaction: a project is never left
	// without the key that manages it.
	CreateProjectWithKey(ctx context.Context, p *Project, k *APIKey) error
	// UpdateProject stores p's name, retention and auth (ENotFound for no
	// project); its id and creation time never change.
	UpdateProject(ctx context.Context, p *Project) error
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// FindAPIKey returns the unrevoked key with this hash, in any project.
	FindAPIKey(ctx context.Context, hash string) (*APIKey, error)
	ListAPIKeys(ctx context.Context, projectID string) ([]*APIKey, error)
	RevokeAPIKey(ctx context.Context, projectID, id string) error

	// Agents. CreateAgent stores version 1; UpdateAgent stores the next
	// version (a.Version is set to it). GetAgent takes an id or a name and
	// a version (0 for the latest). Names are unique within a project.
	CreateAgent(ctx context.Context, a *Agent) error
	UpdateAgent(ctx context.Context, a *Agent) error
	GetAgent(ctx context.Context, projectID, idOrName string, version int) (*Agent, error)
	ListAgents(ctx context.Context, projectID string, page Page) ([]*Agent, bool, error)
	ListAgentVersions(ctx context.Context, projectID, idOrName string) ([]*Agent, error)
	DeleteAgent(ctx context.Context, projectID, idOrName string) error

	// Conversations. CreateConversation stores c with its first items
	// (assigning ids where empty, sequence numbers and CreatedAt).
	// ListConversations never lists hidden ones.
	CreateConversation(ctx context.Context, c *Conversation, items []*Item) error
	GetConversation(ctx context.Context, projectID, id string) (*Conversation, error)
	UpdateConversation(ctx context.Context, projectID, id string, metadata map[string]string) (*Conversation, error)
	DeleteConversation(ctx context.Context, projectID, id string) error
	ListConversations(ctx context.Context, projectID string, f ConversationFilter) ([]*Conversation, bool, error)

	// Items. AppendItems adds items at the end of a conversation's log,
	// assigning ids where empty, sequence numbers and CreatedAt; an id that
	// already exists in the project is EConflict. DeleteItem hides an item
	// from lists and from the model's context; the log keeps it.
	AppendItems(ctx context.Context, projectID, conversationID string, items []*Item) error
	GetItem(ctx context.Context, projectID, conversationID, itemID string) (*Item, error)
	ListItems(ctx context.Context, projectID, conversationID string, page Page) ([]*Item, bool, error)
	DeleteItem(ctx context.Context, projectID, conversationID, itemID string) error
	// RecentItems returns the newest undeleted items of a conversation,
	// following fork links into the parent conversation, oldest first, at most
	// maxItems and stopping before the running sum of Tokens would pass
	// maxTokens (0: no token limit). The newest item is always returned. It
	// reads only what it returns, so its cost does not grow with the log.
	// upTo > 0 reads the log as it stood at that sequence number, ignoring
	// items appended since (a run builds its window from the state it began
	// from, whatever a concurrent writer has added); 0 reads to the end.
	RecentItems(ctx context.Context, projectID, conversationID string, upTo int64, maxItems, maxTokens int) ([]*Item, error)

	// Responses. CreateResponse stores a new run. When r.Status is
	// in_progress and r.ConversationID has no active run (in_progress,
	// requires_action or queued), the run starts under r.Lease: its input
	// is appended to the log in the same transaction. Otherwise it is
	// stored queued with its input held back, per r.Concurrency: reject
	// fails with EConflict naming the active run, interrupt also flags the
	// active runs to cancel. A queued r (background) is always queued.
	// r.Status says which happened.
	//
	// FinishResponse appends the output items, stores r's final state,
	// the usage records, the last step and the stream events in one
	// transaction, under end.Lease; a run already ended is EConflict.
	CreateResponse(ctx context.Context, r *Response, input []*Item) error
	FinishResponse(ctx context.Context, r *Response, end RunEnd) error
	GetResponse(ctx context.Context, projectID, id string) (*Response, error)
	DeleteResponse(ctx context.Context, projectID, id string) error
	ListInputItems(ctx context.Context, projectID, responseID string, page Page) ([]*Item, bool, error)

	// ForkConversation starts a hidden conversation continuing from item
	// seq of conversation from (see Conversation).
	ForkConversation(ctx context.Context, c *Conversation) error

	// UsageTotals sums the project's usage records per f.GroupBy.
	UsageTotals(ctx context.Context, projectID string, f UsageFilter) ([]*UsageTotal, error)

	RunStore
	ExtractionStore
	RecordStore
	ScheduleStore
	BlockStore
	RetentionStore
	AuditStore
	ConnectorStore
	PolicyStore
	BudgetStore

	Close() error
}
