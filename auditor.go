package engram

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"time"
)

// Outcomes of a mutation or a tool call (policy decisions use the
// decision's effect: allow, deny, ask).
const (
	AuditSuccess = "success"
	AuditFailure = "failure"
	// AuditRefused is a tool call the tool itself said no to (a guarded
	// address, a missing per-user credential): the run goes on.
	AuditRefused = "refused"
)

// AuditMaxLimit bounds a page of audit entries.
const AuditMaxLimit = 1000

// Size is how many entries a page of f holds: Limit, 100 when unset, at
// most AuditMaxLimit.
func (f AuditFilter) Size() int {
	if f.Limit <= 0 {
		return 100
	}
	return min(f.Limit, AuditMaxLimit)
}

// Desc reports whether f lists newest first.
func (f AuditFilter) Desc() bool { return f.Order == "desc" }

// Backwards reports whether a store reads f's page against its order: a
// page with only a BeforeSeq cursor is the page just before it, read from
// the cursor back and turned round (as every list's pages are).
func (f AuditFilter) Backwards() bool { return f.BeforeSeq > 0 && f.AfterSeq == 0 }

// FinishAuditPage takes the entries a store read for f (up to one more than
// f.Size(), read backwards when f.Backwards()) and returns the page in f's
// order and whether more entries match.
func FinishAuditPage(rows []*AuditEntry, f AuditFilter) ([]*AuditEntry, bool) {
	return FinishPage(rows, Page{Limit: f.Size()}, f.Backwards())
}

// LinkAudit makes e the entry after last (nil: e starts its project's
// chain): it fixes e's Seq, PrevHash, Time (now when 0, and never before
// last's, so that time order is chain order and a time range is one range
// of seqs), Details in their canonical form, DetailsDigest and Hash.
// Stores call it while they hold their project's chain head, so the two
// stores link entries by one definition.
func LinkAudit(e *AuditEntry, last *AuditEntry) {
	e.Seq, e.PrevHash = 1, AuditGenesis
	if last != nil {
		e.Seq, e.PrevHash = last.Seq+1, last.Hash
	}
	if e.Time == 0 {
		e.Time = time.Now().UnixMilli()
		if last != nil && e.Time < last.Time {
			e.Time = last.Time
		}
	}
	// Both stores must keep every field's exact bytes, or the hash would
	// not hold: PostgreSQL refuses NUL and invalid UTF-8 in text.
	for _, f := range []*string{&e.ProjectID, &e.Actor, &e.Action, &e.Resource, &e.Outcome} {
		*f = strings.ReplaceAll(strings.ToValidUTF8(*f, "\uFFFD"), "\x00", " ")
	}
	e.Details = CanonicalAuditDetails(e.Details)
	e.DetailsDigest = DigestAuditDetails(e.Details)
	e.Hash = e.ComputeHash()
}

// CanonicalAuditDetails returns details as encoding/json writes them
// (compact, HTML characters escaped), nil for none or null. The digest is
// taken of these bytes: every JSON encoder on the way (the API's answer, an
// export) writes them again unchanged, so the digest still holds in a copy.
// Details that are not JSON are kept as a JSON string of their text.
func CanonicalAuditDetails(details json.RawMessage) json.RawMessage {
	trimmed := bytes.TrimSpace(details)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return nil
	}
	out, err := json.Marshal(json.RawMessage(trimmed))
	if err != nil {
		out, _ = json.Marshal(string(details))
	}
	return out
}

// AuditDetails encodes v as an entry's details (nil when it cannot be).
func AuditDetails(v any) json.RawMessage {
	out, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return CanonicalAuditDetails(out)
}

// StoreAuditor records entries in an AuditStore: the Auditor the runtime
// and the API are given.
type StoreAuditor struct {
	Store AuditStore
}

// Record implements Auditor. The entry is appended even when ctx has been
// cancelled (a client that went away after a mutation): what happened is
// recorded whether or not anyone still waits for the answer.
func (a StoreAuditor) Record(ctx context.Context, e *AuditEntry) error {
	if a.Store == nil {
		return nil
	}
	return a.Store.AppendAudit(context.WithoutCancel(ctx), e)
}

// RecordAudit records e with a, when there is one (a nil Auditor records
// nothing).
func RecordAudit(ctx context.Context, a Auditor, e *AuditEntry) error {
	if a == nil {
		return nil
	}
	return a.Record(ctx, e)
}

// KeyActor is the Actor of an API key's requests: "key:ID", and " user:U"
// when the key acts for an end user.
func KeyActor(k *APIKey) string {
	if k == nil {
		return ""
	}
	actor := "key:" + k.ID
	if k.User != "" {
		actor += " user:" + k.User
	}
	return actor
}

// AuditVerifier checks a whole chain given a page at a time, in order from
// its first entry, so that neither the server nor `engram audit verify`
// holds a long chain in memory. Each page is checked joined to the last
// entry of the one before: a gap, an edit or a swap across a page
// boundary is found as within a page.
type AuditVerifier struct {
	// Expect, when set, is the hash of an entry the chain must hold (the
	// head noted at an earlier verification or export): entries removed
	// from the end of a chain leave a valid chain, and only a hash kept
	// elsewhere tells. Finish reports it missing.
	Expect string
	// Entries counts the entries that verified; Head is the last of them.
	Entries int64
	Head    *AuditEntry
	// BadSeq is the seq of the first entry that failed (0: none yet).
	BadSeq int64

	expectSeen bool
}

// Add checks the next page of the chain; the first error is final.
func (v *AuditVerifier) Add(page []*AuditEntry) error {
	if len(page) == 0 {
		return nil
	}
	if v.Head == nil && page[0].Seq != 1 {
		v.BadSeq = page[0].Seq
		return Errorf(EConflict, "audit entry %d comes first: the chain must start at entry 1 (entries before it are missing)", page[0].Seq)
	}
	chain, prev := page, AuditGenesis
	if v.Head != nil {
		chain, prev = append([]*AuditEntry{v.Head}, page...), v.Head.PrevHash
	}
	bad, err := verifyAudit(chain, prev)
	for _, e := range page {
		if err != nil && e.Seq == bad {
			break
		}
		v.Entries++
		v.Head = e
		if v.Expect != "" && e.Hash == v.Expect {
			v.expectSeen = true
		}
	}
	if err != nil {
		v.BadSeq = bad
	}
	return err
}

// Finish reports, once every page has been added, an expected entry the
// chain does not hold.
func (v *AuditVerifier) Finish() error {
	if v.Expect == "" || v.expectSeen {
		return nil
	}
	if v.Head == nil {
		return Errorf(EConflict, "the audit chain is empty; expected it to hold the entry with hash %s", v.Expect)
	}
	return Errorf(EConflict, "the audit chain ends at entry %d (hash %s) and holds no entry with the expected hash %s: entries were removed from its end, or the hash belongs to another chain",
		v.Head.Seq, v.Head.Hash, v.Expect)
}
