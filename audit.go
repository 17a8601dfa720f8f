package engram

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
)

// AuditEntry is one link of a project's audit chain: an append-only log of
// every mutation, tool call and policy decision. Each entry's Hash covers
// its fields and the previous entry's hash, so editing, deleting or
// reordering any entry breaks every hash after it (VerifyAudit).
type AuditEntry struct {
	Seq       int64  `json:"seq"` // 1, 2, … within the project, gapless
	ProjectID string `json:"project_id"`
	// Time is when the entry was appended, in Unix milliseconds.
	Time int64 `json:"time"`
	// Actor is who acted: "key:KEY_ID", "key:KEY_ID user:USER" (a key
	// bound to a user, or a JWT's user), "agent:AGENT_ID user:USER"
	// (a run acting for a user), "system:retention", "cli".
	Actor string `json:"actor"`
	// Action is what was done: "POST /v1/agents" for an API mutation (the
	// route pattern), "tool.call", "policy.decide", "retention.purge", …
	Action string `json:"action"`
	// Resource is what it was done to: an id, a tool's name, a path.
	Resource string `json:"resource"`
	// Outcome: "success" or "failure" (mutations, tool calls), "refused"
	// (a tool call the tool said no to), "allow", "deny" or "ask" (policy
	// decisions).
	Outcome string `json:"outcome"`
	// Details hold what else matters (status code, the policies that
	// decided, a request id); never secrets. DetailsDigest is the SHA-256
	// of Details as stored, so an exported copy can drop or keep Details
	// and still verify.
	Details       json.RawMessage `json:"details,omitempty"`
	DetailsDigest string          `json:"details_digest"`
	PrevHash      string          `json:"prev_hash"`
	Hash          string          `json:"hash"`
}

// AuditGenesis is the PrevHash of a project's first entry.
const AuditGenesis = "0000000000000000000000000000000000000000000000000000000000000000"

// DigestAuditDetails returns the hex SHA-256 of details (of "" for none).
func DigestAuditDetails(details json.RawMessage) string {
	h := sha256.Sum256(details)
	return hex.EncodeToString(h[:])
}

// ComputeHash returns the hash e should carry: the SHA-256 of its fields,
// length-prefixed so no two different entries encode alike, then PrevHash.
func (e *AuditEntry) ComputeHash() string {
	h := sha256.New()
	for _, f := range []string{"engram-audit-v1", strconv.FormatInt(e.Seq, 10), e.ProjectID, strconv.FormatInt(e.Time, 10),
		e.Actor, e.Action, e.Resource, e.Outcome, e.DetailsDigest, e.PrevHash} {
		fmt.Fprintf(h, "%d:%s", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// VerifyAudit checks entries as a chain: seqs consecutive from the first
// one's, each PrevHash the previous Hash (AuditGenesis before seq 1), each
// Hash and DetailsDigest recomputed. prev is the hash before entries[0]
// ("" to take entries[0].PrevHash on trust, when checking a slice that does
// not start at seq 1). It names the first entry that fails.
func VerifyAudit(entries []*AuditEntry, prev string) error {
	_, err := verifyAudit(entries, prev)
	return err
}

// verifyAudit is VerifyAudit, also returning the seq of the entry that
// failed.
func verifyAudit(entries []*AuditEntry, prev string) (int64, error) {
	for i, e := range entries {
		if i == 0 && prev == "" {
			if e.Seq == 1 {
				prev = AuditGenesis
			} else {
				prev = e.PrevHash
			}
		}
		if i > 0 && e.Seq != entries[i-1].Seq+1 {
			return e.Seq, Errorf(EConflict, "audit entry %d follows entry %d: entries are missing or reordered", e.Seq, entries[i-1].Seq)
		}
		if e.ProjectID != entries[0].ProjectID {
			return e.Seq, Errorf(EConflict, "audit entry %d belongs to project %s, not %s", e.Seq, e.ProjectID, entries[0].ProjectID)
		}
		if e.PrevHash != prev {
			return e.Seq, Errorf(EConflict, "audit entry %d: prev_hash does not match the hash of the entry before it (an entry before it was edited, removed or reordered)", e.Seq)
		}
		if e.Details != nil && DigestAuditDetails(e.Details) != e.DetailsDigest {
			return e.Seq, Errorf(EConflict, "audit entry %d: details do not match their digest (edited)", e.Seq)
		}
		if e.ComputeHash() != e.Hash {
			return e.Seq, Errorf(EConflict, "audit entry %d: hash does not match its contents (edited)", e.Seq)
		}
		prev = e.Hash
	}
	return 0, nil
}

// AuditFilter selects audit entries. Zero fields select everything.
// From and To are Unix milliseconds (To exclusive); AfterSeq and BeforeSeq
// are exclusive cursors; Order "asc" (default) or "desc"; Limit 1-1000.
type AuditFilter struct {
	Actor     string
	Action    string
	Resource  string
	Outcome   string
	From, To  int64
	AfterSeq  int64
	BeforeSeq int64
	Order     string
	Limit     int
}

// AuditStore keeps the audit chains.
type AuditStore interface {
	// AppendAudit links e to the end of e.ProjectID's chain, setting Seq,
	// Time (when 0), DetailsDigest, PrevHash and Hash. Appends to one
	// project's chain are serialised across processes sharing the store.
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// ListAudit returns a project's entries per f, and whether more match.
	ListAudit(ctx context.Context, projectID string, f AuditFilter) ([]*AuditEntry, bool, error)
}

// Auditor records audit entries; the runtime and the API call it. A nil
// Auditor records nothing (tests of other parts).
type Auditor interface {
	Record(ctx context.Context, e *AuditEntry) error
}
