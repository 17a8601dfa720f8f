package engram

import "encoding/json"

// Conversation is one session of an agent (or a bare model) with one end
// user: an append-only log of items, each with a per-conversation sequence
// number.
//
// A chain of responses linked only by previous_response_id keeps its state in
// a hidden conversation (Hidden). When a chain forks (two responses continue
// from the same one), the new branch is a hidden conversation that starts
// after item ForkSeq of ForkOf: readers follow that link instead of copying the
// shared history, so a fork costs nothing however long the history is.
type Conversation struct {
	ID        string            `json:"id"`
	ProjectID string            `json:"-"`
	AgentID   string            `json:"agent,omitempty"`
	User      string            `json:"user,omitempty"`
	Metadata  map[string]string `json:"metadata"`
	CreatedAt int64             `json:"created_at"`
	Hidden    bool              `json:"-"`
	ForkOf    string            `json:"-"`
	ForkSeq   int64             `json:"-"`
	LastSeq   int64             `json:"-"` // highest seq appended so far
	// Tokens sums the Tokens of the log's undeleted items, a fork's parent
	// up to ForkSeq included: what a stateless client would resend each
	// turn. The store keeps it on every append and delete, so reading it
	// costs nothing however long the log.
	Tokens int64 `json:"-"`
}

// ConversationFilter selects conversations to list.
type ConversationFilter struct {
	AgentID string
	User    string
	Page    Page
}

// Item types, as in OpenAI's Responses and Conversations APIs.
const (
	ItemMessage            = "message"
	ItemFunctionCall       = "function_call"
	ItemFunctionCallOutput = "function_call_output"
	ItemReasoning          = "reasoning"
	// A person's approval of a tool call, in the shape of OpenAI's MCP
	// approvals: the run asks with a request and pauses; the answer is a
	// response item (as input) or POST /v1/responses/{id}/approvals.
	ItemApprovalRequest  = "mcp_approval_request"
	ItemApprovalResponse = "mcp_approval_response"
	// A compaction item stands for the log before it: its summary (in
	// EncryptedContent, which OpenAI keeps opaque and Engram keeps
	// readable, the data being the user's own) replaces every item up to
	// CompactedThrough in the model's context; those items stay in the log
	// and in searches.
	ItemCompaction = "compaction"
)

// Item is one entry of a conversation's log. Its JSON form is OpenAI's item
// shape; the storage fields are not part of it.
type Item struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Status string `json:"status,omitempty"`

	// message
	Role    string    `json:"role,omitempty"`
	Content []Content `json:"content,omitempty"`

	// function_call and function_call_output
	CallID    string `json:"call_id,omitempty"`
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments,omitempty"`
	Output    string `json:"output,omitempty"`

	// reasoning
	Summary          []Content `json:"summary,omitempty"`
	EncryptedContent string    `json:"encrypted_content,omitempty"`

	// mcp_approval_request (Name, Arguments, ServerLabel) and
	// mcp_approval_response (ApprovalRequestID, Approve, Reason)
	ServerLabel       string `json:"server_label,omitempty"`
	ApprovalRequestID string `json:"approval_request_id,omitempty"`
	Approve           *bool  `json:"approve,omitempty"`
	Reason            string `json:"reason,omitempty"`

	// compaction: the seq of the last item the summary covers; 0 when it
	// covers everything before it (a compaction item given as input).
	CompactedThrough int64 `json:"compacted_through,omitempty"`

	// Storage: where the item sits in the log and what it cost.
	ConversationID string `json:"-"`
	Seq            int64  `json:"-"`
	ResponseID     string `json:"-"` // the response that added it, if any
	Origin         string `json:"-"` // OriginInput or OriginOutput for response items
	Tokens         int    `json:"-"` // estimated tokens, computed once on write
	CreatedAt      int64  `json:"-"`
}

// Item origins within a response.
const (
	OriginInput  = "input"
	OriginOutput = "output"
)

// Content is one part of a message or a reasoning summary.
type Content struct {
	Type        string            `json:"type"` // input_text, output_text, refusal, input_image, input_file, summary_text, reasoning_text
	Text        string            `json:"text,omitempty"`
	Refusal     string            `json:"refusal,omitempty"`
	ImageURL    string            `json:"image_url,omitempty"`
	FileID      string            `json:"file_id,omitempty"`
	FileData    string            `json:"file_data,omitempty"`
	Filename    string            `json:"filename,omitempty"`
	Detail      string            `json:"detail,omitempty"`
	Annotations []json.RawMessage `json:"annotations,omitempty"`
}

// Content types.
const (
	ContentInputText   = "input_text"
	ContentOutputText  = "output_text"
	ContentRefusal     = "refusal"
	ContentInputImage  = "input_image"
	ContentInputFile   = "input_file"
	ContentSummaryText = "summary_text"
)

// Text returns the concatenated text of a message item's parts (input, output
// and refusal), or a tool call's arguments or output: the words a model reads.
func (it *Item) Text() string {
	switch it.Type {
	case ItemFunctionCall:
		return it.Name + " " + it.Arguments
	case ItemFunctionCallOutput:
		return it.Output
	case ItemCompaction:
		return it.EncryptedContent
	}
	var n int
	for _, c := range it.Content {
		n += len(c.Text) + len(c.Refusal)
	}
	for _, c := range it.Summary {
		n += len(c.Text)
	}
	b := make([]byte, 0, n)
	for _, c := range it.Content {
		b = append(b, c.Text...)
		b = append(b, c.Refusal...)
	}
	for _, c := range it.Summary {
		b = append(b, c.Text...)
	}
	return string(b)
}

// ItemIDPrefix returns the id prefix OpenAI uses for an item type.
func ItemIDPrefix(itemType string) string {
	switch itemType {
	case ItemMessage:
		return "msg"
	case ItemFunctionCall:
		return "fc"
	case ItemFunctionCallOutput:
		return "fco"
	case ItemReasoning:
		return "rs"
	case ItemApprovalRequest:
		return "mcpr"
	case ItemApprovalResponse:
		return "mcpa"
	case ItemCompaction:
		return "cmp"
	}
	return "item"
}
