package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/engram-run/engram"
)

// auditChain appends n entries to a new project of db and returns its id.
func auditChain(t *testing.T, db *DB, n int) string {
	t.Helper()
	ctx := context.Background()
	p := &engram.Project{ID: engram.NewID("proj"), Name: "p", CreatedAt: engram.Now()}
	if err := db.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		e := &engram.AuditEntry{ProjectID: p.ID, Actor: "key:key_1", Action: "POST /v1/agents", Resource: fmt.Sprintf("agent_%d", i+1),
			Outcome: engram.AuditSuccess, Details: engram.AuditDetails(map[string]int{"status": 200})}
		if err := db.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	return p.ID
}

// TestAuditTamper: the log refuses changes; once its guard is dropped (which
// takes deliberate DDL), an edited, deleted or reordered entry breaks the
// chain, and verification names the first entry that no longer holds.
func TestAuditTamper(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		tamper []string
		want   string
	}{
		{"edit", []string{`UPDATE audit_log SET actor = 'key:someone_else' WHERE seq = 5`}, "audit entry 5: hash does not match"},
		{"edit details", []string{`UPDATE audit_log SET details = '{"status":500}' WHERE seq = 4`}, "audit entry 4: details do not match"},
		{"edit and rehash", []string{`UPDATE audit_log SET resource = 'x', details_digest = 'y', hash = 'z' WHERE seq = 6`}, "audit entry 6:"},
		{"delete", []string{`DELETE FROM audit_log WHERE seq = 7`}, "audit entry 8 follows entry 6"},
		{"swap", []string{`UPDATE audit_log SET seq = -3 WHERE seq = 3`, `UPDATE audit_log SET seq = 3 WHERE seq = 4`, `UPDATE audit_log SET seq = 4 WHERE seq = -3`},
			"audit entry 3:"},
		{"delete the first", []string{`DELETE FROM audit_log WHERE seq = 1`}, "audit entry 2: prev_hash"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db := openTemp(t)
			defer db.Close()
			pid := auditChain(t, db, 10)
			raw, err := sql.Open("sqlite", "file:"+db.path+"?_pragma=busy_timeout(10000)")
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			// The guard first: a plain UPDATE or DELETE is refused.
			for _, q := range []string{`UPDATE audit_log SET actor = 'x' WHERE seq = 1`, `DELETE FROM audit_log WHERE seq = 10`} {
				if _, err := raw.Exec(q); err == nil || !strings.Contains(err.Error(), "append-only") {
					t.Fatalf("%s: %v, want it refused", q, err)
				}
			}
			all, _, err := db.ListAudit(ctx, pid, engram.AuditFilter{Limit: 1000})
			if err != nil || len(all) != 10 {
				t.Fatalf("after refused changes: %d entries, %v", len(all), err)
			}
			if err := engram.VerifyAudit(all, engram.AuditGenesis); err != nil {
				t.Fatalf("untouched chain: %v", err)
			}
			for _, q := range append([]string{`DROP TRIGGER audit_log_no_update`, `DROP TRIGGER audit_log_no_delete`}, tt.tamper...) {
				if _, err := raw.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			all, _, err = db.ListAudit(ctx, pid, engram.AuditFilter{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			err = engram.VerifyAudit(all, engram.AuditGenesis)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("verify after %s: %v, want %q", tt.name, err, tt.want)
			}
		})
	}
}

// BenchmarkAppendAudit: what recording one mutation costs on SQLite, one
// writer at a time and with writers racing (their appends share commits).
func BenchmarkAppendAudit(b *testing.B) {
	db := openTemp(b)
	defer db.Close()
	ctx := context.Background()
	p := &engram.Project{ID: engram.NewID("proj"), Name: "p", CreatedAt: engram.Now()}
	if err := db.CreateProject(ctx, p); err != nil {
		b.Fatal(err)
	}
	entry := func() *engram.AuditEntry {
		return &engram.AuditEntry{ProjectID: p.ID, Actor: "key:key_1", Action: "POST /v1/responses", Resource: "resp_1",
			Outcome: engram.AuditSuccess, Details: engram.AuditDetails(map[string]any{"status": 200, "request_id": "req_1"})}
	}
	b.Run("serial", func(b *testing.B) {
		for range b.N {
			if err := db.AppendAudit(ctx, entry()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := db.AppendAudit(ctx, entry()); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
