package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/engram-run/engram"
)

// TestAuditTamper: PostgreSQL refuses to change or remove audit entries;
// once the guard is dropped (deliberate DDL), an edit or a deletion breaks
// the chain where it was made.
func TestAuditTamper(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	defer db.Close()
	p := &engram.Project{ID: engram.NewID("proj"), Name: "p", CreatedAt: engram.Now()}
	if err := db.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := db.AppendAudit(ctx, &engram.AuditEntry{ProjectID: p.ID, Actor: "key:key_1", Action: "POST /v1/agents",
			Resource: fmt.Sprintf("agent_%d", i+1), Outcome: engram.AuditSuccess}); err != nil {
			t.Fatal(err)
		}
	}
	verify := func() error {
		all, _, err := db.ListAudit(ctx, p.ID, engram.AuditFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return engram.VerifyAudit(all, engram.AuditGenesis)
	}
	for _, q := range []string{`UPDATE audit_log SET actor = 'x' WHERE seq = 1`, `DELETE FROM audit_log WHERE seq = 10`, `TRUNCATE audit_log`} {
		if _, err := db.pool.Exec(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Fatalf("%s: %v, want it refused", q, err)
		}
	}
	if err := verify(); err != nil {
		t.Fatalf("untouched chain: %v", err)
	}
	for _, q := range []string{`DROP TRIGGER audit_log_append_only ON audit_log`, `UPDATE audit_log SET outcome = 'failure' WHERE seq = 5`} {
		if _, err := db.pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := verify(); err == nil || !strings.Contains(err.Error(), "audit entry 5: hash does not match") {
		t.Fatalf("after an edit: %v", err)
	}
	if _, err := db.pool.Exec(ctx, `UPDATE audit_log SET outcome = 'success' WHERE seq = 5`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.pool.Exec(ctx, `DELETE FROM audit_log WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	if err := verify(); err == nil || !strings.Contains(err.Error(), "audit entry 4 follows entry 2") {
		t.Fatalf("after a deletion: %v", err)
	}
}
