package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestAuditCommand: the server records mutations; the CLI lists them,
// exports them and verifies the chain online and in an exported copy, and
// names the first entry an edit, a deletion or a swap broke; a copy cut
// short verifies only until its expected head is asked for.
func TestAuditCommand(t *testing.T) {
	srv := startEngram(t, nil)
	for _, name := range []string{"alpha", "beta", "gamma", "delta"} {
		if status := srv.call(t, "POST", "/v1/agents", `{"name":"`+name+`","model":"scripted/echo"}`, nil); status != 200 {
			t.Fatalf("create agent %s: %d", name, status)
		}
	}
	srv.call(t, "DELETE", "/v1/agents/beta", "", nil)

	out, _, err := cli(t, srv, srv.AdminKey, "", "audit", "list")
	// The first start's own changes come first: the default project and
	// the admin key it seeded.
	if err != nil || !strings.HasPrefix(out, "SEQ") || strings.Count(out, "POST /v1/agents ") != 4 || !strings.Contains(out, "DELETE /v1/agents/{ref}  beta") ||
		!regexp.MustCompile(`(?m)^1 .*system:bootstrap +project\.create +proj_default +success`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^2 .*system:bootstrap +key\.create +key_`).MatchString(out) {
		t.Fatalf("list: %q %v", out, err)
	}
	out, _, err = cli(t, srv, srv.AdminKey, "", "audit", "list", "--action", "DELETE /v1/agents/{ref}", "--json")
	if err != nil || !strings.Contains(out, `"resource": "beta"`) || strings.Contains(out, `"POST /v1/agents"`) {
		t.Fatalf("list --action --json: %q %v", out, err)
	}

	// Online.
	out, _, err = cli(t, srv, srv.AdminKey, "", "audit", "verify")
	head := regexp.MustCompile(`head seq (\d+), hash ([0-9a-f]{64})`).FindStringSubmatch(out)
	if err != nil || head == nil || !strings.HasPrefix(out, "7 entries verified") {
		t.Fatalf("verify: %q %v", out, err)
	}

	// An exported copy, offline (no key needed).
	dir := t.TempDir()
	export := filepath.Join(dir, "audit.jsonl")
	_, errOut, err := cli(t, srv, srv.AdminKey, "", "audit", "export", "--out", export)
	if err != nil || !strings.Contains(errOut, "exported 7 entries; head seq 7, hash "+head[2]) {
		t.Fatalf("export: %q %v", errOut, err)
	}
	data, err := os.ReadFile(export)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 7 {
		t.Fatalf("export has %d lines", len(lines))
	}
	out, _, err = cli(t, srv, "", "", "audit", "verify", "--file", export, "--expect-head", head[2])
	if err != nil || !strings.Contains(out, "7 entries verified") {
		t.Fatalf("verify --file: %q %v", out, err)
	}
	stdout, _, err := cli(t, srv, srv.AdminKey, "", "audit", "export")
	if err != nil || stdout != string(data) {
		t.Errorf("export to standard output differs from the file: %v", err)
	}

	write := func(name string, ls []string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Join(ls, "")), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	edited := append([]string{}, lines...)
	edited[2] = strings.Replace(edited[2], `"outcome":"success"`, `"outcome":"failure"`, 1)
	deleted := append(append([]string{}, lines[:1]...), lines[2:]...)
	swapped := append([]string{}, lines...)
	swapped[2], swapped[3] = swapped[3], swapped[2]
	noDetails := append([]string{}, lines...)
	noDetails[2] = regexp.MustCompile(`"details":\{[^}]*\},`).ReplaceAllString(noDetails[2], "")
	editedDetails := append([]string{}, lines...)
	editedDetails[2] = strings.Replace(editedDetails[2], `"status":200`, `"status":201`, 1)
	if noDetails[2] == lines[2] || editedDetails[2] == lines[2] {
		t.Fatalf("entry 3 has no details to drop or edit: %s", lines[2])
	}
	for _, tt := range []struct {
		name   string
		lines  []string
		expect string
		want   string // "" for a copy that verifies
	}{
		{"edited", edited, "", "broken at entry 3: audit entry 3: hash does not match"},
		{"edited details", editedDetails, "", "broken at entry 3: audit entry 3: details do not match"},
		{"deleted", deleted, "", "broken at entry 3: audit entry 3 follows entry 1"},
		{"swapped", swapped, "", "broken at entry 4: audit entry 4 follows entry 2"},
		{"first deleted", lines[1:], "", "broken at entry 2: audit entry 2 comes first"},
		{"details dropped", noDetails, head[2], ""},
		{"tail cut, no head", lines[:4], "", ""},
		{"tail cut", lines[:4], head[2], "holds no entry with the expected hash " + head[2]},
	} {
		args := []string{"audit", "verify", "--file", write(tt.name, tt.lines)}
		if tt.expect != "" {
			args = append(args, "--expect-head", tt.expect)
		}
		_, _, err := cli(t, srv, "", "", args...)
		if tt.want == "" && err != nil {
			t.Errorf("%s: %v, want it to verify", tt.name, err)
		}
		if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
	if _, _, err := cli(t, srv, "", "", "audit", "verify", "--file", write("garbage", []string{lines[0], "not json\n"})); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a line that is not JSON: %v", err)
	}

	// Online, after an edit behind the server's back.
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(srv.DataDir, "engram.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, q := range []string{`DROP TRIGGER audit_log_no_update`, `UPDATE audit_log SET resource = 'nothing' WHERE seq = 2`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	out, _, err = cli(t, srv, srv.AdminKey, "", "audit", "verify")
	if err == nil || !strings.Contains(err.Error(), "broken at entry 2") || !strings.HasPrefix(out, "1 entry verified") {
		t.Errorf("verify after an edit: %q %v", out, err)
	}
	_, errOut, err = cli(t, srv, srv.AdminKey, "", "audit", "--help")
	if err != nil || !strings.Contains(errOut, "audit verify --file FILE") {
		t.Errorf("--help: %q %v", errOut, err)
	}
}
