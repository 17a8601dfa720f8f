package openai

import (
	"github.com/engram-run/engram"
)

var approvalFields = map[string]bool{"approval_request_id": true, "approve": true, "reason": true}

// DecodeApproval decodes the body of POST /v1/responses/{id}/approvals,
// shaped like an mcp_approval_response item:
// {"approval_request_id": "mcpr_…", "approve": true, "reason": "…"}.
func DecodeApproval(body []byte) (engram.Approval, error) {
	var a engram.Approval
	f, err := decodeObject(body, approvalFields)
	if err != nil {
		return a, err
	}
	var approve *bool
	for _, err := range []error{
		field(f, "approval_request_id", &a.RequestID, "a string"),
		field(f, "approve", &approve, "a boolean"),
		field(f, "reason", &a.Comment, "a string"),
	} {
		if err != nil {
			return a, err
		}
	}
	if a.RequestID == "" {
		return a, invalid("approval_request_id", "Missing required parameter: 'approval_request_id'.")
	}
	if approve == nil {
		return a, invalid("approve", "Missing required parameter: 'approve'.")
	}
	a.Approve = *approve
	return a, nil
}

// Step is a journal step in the JSON of GET /v1/responses/{id}/steps.
type Step struct {
	Object string `json:"object"`
	engram.Step
	Output []Item `json:"output"`
}

// EncodeSteps encodes a run's journal.
func EncodeSteps(steps []*engram.Step) []Step {
	out := make([]Step, len(steps))
	for i, s := range steps {
		out[i] = Step{Object: "response.step", Step: *s, Output: EncodeItems(s.Output)}
	}
	return out
}
