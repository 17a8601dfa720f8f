package engram

import (
	"context"
	"encoding/json"
)

// Step is one journaled unit of a run: a model call or a tool call. A step
// is written before it is acted on and completed after, so that a run
// resumed after a crash replays completed steps from the journal instead of
// repeating them, and knows which step was in flight.
type Step struct {
	ResponseID string `json:"response_id"`
	ProjectID  string `json:"-"`
	N          int    `json:"step"`   // 1, 2, … within the run
	Kind       string `json:"kind"`   // StepModel or StepTool
	Status     string `json:"status"` // StepStarted, StepCompleted, …
	// Name, CallID and Arguments describe a tool step's call.
	Name      string `json:"name,omitempty"`
	CallID    string `json:"call_id,omitempty"`
	Arguments string `json:"arguments,omitempty"`
	// IdempotencyKey is derived from the run and the step: the same on
	// every retry of the call, different for every other call.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// Output holds the items the step produced: a model call's output, a
	// tool call's function_call_output, an approval's request and answer.
	Output []*Item `json:"output,omitempty"`
	Usage  *Usage  `json:"usage,omitempty"`
	// StopReason is why a model call ended (StopEnd, StopToolCalls, …).
	StopReason string `json:"stop_reason,omitempty"`
	// EventSeq is the sequence number of the run's next stream event when
	// the step was saved, so that a resumed run numbers on from there.
	EventSeq int64 `json:"event_seq,omitempty"`
	// WakeAt is when a waiting step (wait_until) resumes, in Unix seconds.
	WakeAt int64 `json:"wake_at,omitempty"`
	// Approval is set on a tool step that waits for, or got, a person's
	// decision.
	Approval *Approval `json:"approval,omitempty"`
	// Decision is what the project's policies said about a tool step's
	// call. It is made once, when the call is first journaled: a resumed
	// or retried call acts on it and does not ask again.
	Decision *Decision `json:"decision,omitempty"`
	// Context says how a model step's context was built, when more
	// happened than reading the window: compaction, truncation, recall.
	Context     *StepContext `json:"context,omitempty"`
	Error       string       `json:"error,omitempty"`
	StartedAt   int64        `json:"started_at"`
	CompletedAt int64        `json:"completed_at,omitempty"`
}

// Step kinds.
const (
	StepModel = "model_call"
	StepTool  = "tool_call"
)

// Step statuses. A step left StepStarted by a crash has an unknown outcome:
// a model call is simply made again; a tool call is retried only when the
// tool is idempotent, and otherwise asks a person (StepAwaitingApproval).
const (
	StepStarted          = "started"
	StepCompleted        = "completed"
	StepFailed           = "failed"
	StepWaiting          = "waiting"           // sleeping until WakeAt
	StepAwaitingApproval = "awaiting_approval" // Approval.Decided is false
	StepDecided          = "decided"           // a person answered; the run acts on it when it resumes
)

// Approval is a person's decision on one tool call.
type Approval struct {
	RequestID string `json:"approval_request_id"` // the mcp_approval_request item's id
	// Reason is why a person is asked: "required" for a tool that needs
	// approval, "outcome_unknown" for a call a crash interrupted, "policy"
	// for a call a policy asks about (@ask; the step's Decision says which).
	Reason   string `json:"reason"`
	Decided  bool   `json:"decided"`
	Approve  bool   `json:"approve"`
	Comment  string `json:"comment,omitempty"` // the decider's reason
	Decider  string `json:"decider,omitempty"` // the key or user that decided
	Decision int64  `json:"decided_at,omitempty"`
}

// Concurrency policies: what a new response does when its conversation
// already has an active one.
const (
	ConcurrencyReject    = "reject"    // fail with 409
	ConcurrencyEnqueue   = "enqueue"   // wait its turn (the default)
	ConcurrencyInterrupt = "interrupt" // cancel the active one at its next step boundary, then run
)

// RunLimits bound one run. Zero means no limit of that kind (the runtime's
// own defaults still apply to steps and tool calls). Exceeding a limit ends
// the run incomplete with the limit as the reason.
type RunLimits struct {
	MaxSteps       int `json:"max_steps,omitempty"`
	MaxToolCalls   int `json:"max_tool_calls,omitempty"`
	MaxWallSeconds int `json:"max_wall_seconds,omitempty"` // from the run's start, waits included
	MaxTotalTokens int `json:"max_total_tokens,omitempty"` // input + output over all model calls
}

// Tighter returns the tighter of two limits, field by field.
func (l RunLimits) Tighter(o RunLimits) RunLimits {
	pick := func(a, b int) int {
		if a == 0 || (b != 0 && b < a) {
			return b
		}
		return a
	}
	return RunLimits{MaxSteps: pick(l.MaxSteps, o.MaxSteps), MaxToolCalls: pick(l.MaxToolCalls, o.MaxToolCalls),
		MaxWallSeconds: pick(l.MaxWallSeconds, o.MaxWallSeconds), MaxTotalTokens: pick(l.MaxTotalTokens, o.MaxTotalTokens)}
}

// Lease is a worker's claim on a run. Every write a worker makes for a run
// names its lease; a write under a lease that has passed to another worker
// is refused (EConflict), so a worker that stalled past its lease cannot
// overwrite the work of the one that took over.
type Lease struct {
	Owner string // the worker (node) id
	Until int64  // Unix milliseconds
}

// StoredEvent is a stream event as persisted: its sequence number in the
// response's stream and its encoded form.
type StoredEvent struct {
	Seq  int64           `json:"seq"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// ResponseFilter selects responses to list.
type ResponseFilter struct {
	Status string
	User   string
	Page   Page
}

// RunStore is the durable state of runs: claims, the step journal, and
// the persisted stream. It is part of Store.
type RunStore interface {
	// CreateRun is CreateResponse that also journals the run's first step
	// in the same transaction when the run starts at once, so that a turn
	// costs no write more for its journal.
	CreateRun(ctx context.Context, r *Response, input []*Item, first *Step) error
	// ClaimRun leases one run that is ready to execute to lease.Owner:
	// an in_progress run whose lease has expired and whose wake time has
	// come, or the oldest queued run of a conversation with no active run
	// (starting it: its input is appended to the log now, in order behind
	// the runs before it). responseID limits the claim to that run. It
	// returns ENotFound when no run is ready.
	ClaimRun(ctx context.Context, lease Lease, now int64, responseID string) (*Response, error)
	// RenewLease extends a held lease and reports whether the run has been
	// asked to cancel. A lease held by another owner is EConflict.
	RenewLease(ctx context.Context, responseID string, lease Lease) (cancelRequested bool, err error)
	// PauseRun stores r (status in_progress with WakeAt in the future, or
	// requires_action) and releases its lease, with the events so far.
	PauseRun(ctx context.Context, r *Response, lease Lease, events []StoredEvent) error
	// ReleaseLeases gives up every lease held by node, that is every lease
	// whose owner is node or begins with node + "/" (a node's claims carry
	// a nonce after the slash): a restarted node takes its runs back at
	// once instead of waiting for its old leases to pass.
	ReleaseLeases(ctx context.Context, node string) error
	// RequestCancel asks a run to stop: a queued run is cancelled at once
	// (its input never reaches the log), a paused one is ended cancelled
	// with the output its completed steps made, a running one is flagged
	// for its worker to stop at its next step boundary. It returns the
	// response as it now stands.
	RequestCancel(ctx context.Context, projectID, responseID string) (*Response, error)
	// SaveStep writes a step (new or updated) under the run's lease,
	// together with the stream events up to it.
	SaveStep(ctx context.Context, s *Step, lease Lease, events []StoredEvent) error
	// ListSteps returns a run's journal in order.
	ListSteps(ctx context.Context, projectID, responseID string) ([]*Step, error)
	// DecideApproval records a person's decision on a step awaiting one
	// and, when no other step of the run still awaits one, makes the run
	// ready to resume. Deciding twice is EConflict.
	DecideApproval(ctx context.Context, projectID, responseID string, a Approval) (*Response, error)
	// ListResponses lists a project's responses, newest first by default,
	// optionally only those with one status. Outputs are not filled in.
	ListResponses(ctx context.Context, projectID string, f ResponseFilter) ([]*Response, bool, error)
	// ListEvents returns a response's persisted stream events after seq.
	ListEvents(ctx context.Context, projectID, responseID string, after int64) ([]StoredEvent, error)
}

// StepContext records what the context engine did for a model call.
type StepContext struct {
	// Compacted items were summarised into the compaction item CompactionID.
	Compacted    int    `json:"compacted,omitempty"`
	CompactionID string `json:"compaction_id,omitempty"`
	// Truncated items were dropped from the window (compaction's fallback),
	// and Note says why.
	Truncated int    `json:"truncated,omitempty"`
	Note      string `json:"note,omitempty"`
	// Recalled are the memories placed in the context for this call.
	Recalled []Recalled `json:"recalled,omitempty"`
}

// Recalled is one memory placed in a model call's context: a record, or a
// message of a past conversation.
type Recalled struct {
	Type           string  `json:"type"` // "record" or "item"
	ID             string  `json:"id"`
	ConversationID string  `json:"conversation,omitempty"`
	Score          float64 `json:"score"`
	Tokens         int     `json:"tokens"`
}
