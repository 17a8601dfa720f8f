package engram_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/engram-run/engram"
)

// chain links n entries as a store would.
func chain(n int) []*engram.AuditEntry {
	var out []*engram.AuditEntry
	var last *engram.AuditEntry
	for i := range n {
		e := &engram.AuditEntry{ProjectID: "proj_1", Time: int64(1000 + i), Actor: "key:k", Action: "POST /v1/agents",
			Resource: fmt.Sprintf("agent_%d", i+1), Outcome: engram.AuditSuccess, Details: engram.AuditDetails(map[string]int{"status": 200})}
		engram.LinkAudit(e, last)
		out, last = append(out, e), e
	}
	return out
}

// verifyPaged runs entries through an AuditVerifier, size entries a page.
func verifyPaged(entries []*engram.AuditEntry, size int, expect string) (*engram.AuditVerifier, error) {
	v := &engram.AuditVerifier{Expect: expect}
	for i := 0; i < len(entries); i += size {
		if err := v.Add(entries[i:min(i+size, len(entries))]); err != nil {
			return v, err
		}
	}
	return v, v.Finish()
}

// TestAuditVerifier: a chain checked a page at a time finds what a check of
// the whole finds, across page boundaries too, and a head kept elsewhere
// finds a truncated tail.
func TestAuditVerifier(t *testing.T) {
	whole := chain(10)
	head := whole[9].Hash
	for _, size := range []int{1, 3, 10} {
		v, err := verifyPaged(whole, size, head)
		if err != nil || v.Entries != 10 || v.Head.Seq != 10 || v.BadSeq != 0 {
			t.Fatalf("pages of %d: %v, %+v", size, err, v)
		}
		// An earlier head is still in a chain that grew since.
		if _, err := verifyPaged(whole, size, whole[4].Hash); err != nil {
			t.Errorf("pages of %d, an earlier head: %v", size, err)
		}
	}
	edit := func(f func(c []*engram.AuditEntry) []*engram.AuditEntry) []*engram.AuditEntry {
		c := chain(10)
		return f(c)
	}
	for _, tt := range []struct {
		name    string
		entries []*engram.AuditEntry
		bad     int64
		want    string
	}{
		{"edited actor", edit(func(c []*engram.AuditEntry) []*engram.AuditEntry { c[3].Actor = "key:other"; return c }), 4, "audit entry 4: hash"},
		{"edited details", edit(func(c []*engram.AuditEntry) []*engram.AuditEntry { c[5].Details = []byte(`{"status":500}`); return c }), 6, "audit entry 6: details"},
		{"deleted", edit(func(c []*engram.AuditEntry) []*engram.AuditEntry { return append(c[:6], c[7:]...) }), 8, "audit entry 8 follows entry 6"},
		{"swapped", edit(func(c []*engram.AuditEntry) []*engram.AuditEntry { c[5], c[6] = c[6], c[5]; return c }), 7, "audit entry 7 follows entry 5"},
		{"first deleted", edit(func(c []*engram.AuditEntry) []*engram.AuditEntry { return c[1:] }), 2, "audit entry 2 comes first"},
		{"tail cut", edit(func(c []*engram.AuditEntry) []*engram.AuditEntry { return c[:8] }), 0, "holds no entry with the expected hash"},
	} {
		for _, size := range []int{1, 3, 6, 10} {
			v, err := verifyPaged(tt.entries, size, head)
			if err == nil || !strings.Contains(err.Error(), tt.want) || v.BadSeq != tt.bad {
				t.Errorf("%s, pages of %d: %v (bad seq %d), want %q at %d", tt.name, size, err, v.BadSeq, tt.want, tt.bad)
			}
		}
	}
	// A copy without details still verifies: their digest stands in.
	stripped := chain(3)
	for _, e := range stripped {
		e.Details = nil
	}
	if err := engram.VerifyAudit(stripped, engram.AuditGenesis); err != nil {
		t.Errorf("without details: %v", err)
	}
}

// FuzzVerifyAuditLines: whatever a copy holds (it comes from outside),
// checking it never panics, and a chain that verifies links every entry to
// the one before.
func FuzzVerifyAuditLines(f *testing.F) {
	var good strings.Builder
	for _, e := range chain(4) {
		line, _ := json.Marshal(e)
		good.Write(line)
		good.WriteByte('\n')
	}
	f.Add(good.String())
	f.Add(strings.Replace(good.String(), `"seq":2`, `"seq":3`, 1))
	f.Add(`{"seq":1,"details":{"a":`)
	f.Fuzz(func(t *testing.T, data string) {
		var entries []*engram.AuditEntry
		for _, line := range strings.Split(data, "\n") {
			e := &engram.AuditEntry{}
			if json.Unmarshal([]byte(line), e) == nil {
				entries = append(entries, e)
			}
		}
		v := &engram.AuditVerifier{}
		for i := 0; i < len(entries); i += 2 {
			if v.Add(entries[i:min(i+2, len(entries))]) != nil {
				return
			}
		}
		for i, e := range entries {
			if e.Hash != e.ComputeHash() || (i > 0 && (e.Seq != entries[i-1].Seq+1 || e.PrevHash != entries[i-1].Hash)) {
				t.Fatalf("entry %d verified but does not hold", i)
			}
		}
	})
}
