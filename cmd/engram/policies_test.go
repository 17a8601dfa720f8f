package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPoliciesValidateOffline: validate needs no server and no key, and
// names every faulty file with the line and column of its fault.
func TestPoliciesValidateOffline(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "read-only.cedar", `permit (principal, action == Engram::Action::"current_time", resource);`)
	bad := writeFile(t, dir, "broken.cedar", "permit (principal, action, resource);\nforbid (principal action, resource);")
	typo := writeFile(t, dir, "typo.cedar", `permit (principal, action, resource) when { principal.usr == "ada" };`)
	srv := &testServer{DataDir: dir}
	_, errOut, err := cli(t, srv, "", "", "policies", "validate", good, bad, typo)
	if err == nil || !strings.Contains(err.Error(), "2 of 3 policy files are invalid") {
		t.Fatalf("validate: %v", err)
	}
	if !strings.Contains(errOut, bad+": Invalid 'policy': parse error at line 2, column") || !strings.Contains(errOut, typo+": ") || !strings.Contains(errOut, `no attribute "usr"`) {
		t.Errorf("validate's faults: %q", errOut)
	}
	if out, _, err := cli(t, srv, "", "", "policies", "validate", good); err != nil || out != good+": ok (policy read-only)\n" {
		t.Errorf("validate a good file: %q %v", out, err)
	}
}

func TestPoliciesCommands(t *testing.T) {
	srv := startEngram(t, nil)
	admin := srv.AdminKey
	dir := t.TempDir()
	clock := writeFile(t, dir, "no-clock.cedar", "@reason(\"no clocks\")\nforbid (principal, action == Engram::Action::\"current_time\", resource);")
	rest := writeFile(t, dir, "rest.cedar", `permit (principal, action, resource) when { context.declared };`)

	out, _, err := cli(t, srv, admin, "", "policies", "list")
	if err != nil || !strings.Contains(out, "built-in default") {
		t.Fatalf("list before: %q %v", out, err)
	}
	out, _, err = cli(t, srv, admin, "", "policies", "apply", "--description", "team rules", clock, rest)
	if err != nil || !strings.Contains(out, "created policy no-clock") || !strings.Contains(out, "created policy rest") {
		t.Fatalf("apply: %q %v", out, err)
	}
	// Applying again replaces, by name.
	writeFile(t, dir, "no-clock.cedar", "@reason(\"still no clocks\")\nforbid (principal, action == Engram::Action::\"current_time\", resource);")
	out, _, err = cli(t, srv, admin, "", "policies", "apply", clock)
	if err != nil || !strings.Contains(out, "replaced policy no-clock") {
		t.Fatalf("apply again: %q %v", out, err)
	}
	out, _, err = cli(t, srv, admin, "", "policies", "show", "no-clock")
	if err != nil || !strings.Contains(out, "still no clocks") || !strings.Contains(out, "team rules") {
		t.Errorf("show: %q %v", out, err)
	}
	out, _, err = cli(t, srv, admin, "", "policies", "evaluate", "--tool", "current_time", "--args", `{}`)
	if err != nil || !strings.HasPrefix(out, "deny: still no clocks") {
		t.Errorf("evaluate: %q %v", out, err)
	}
	out, _, err = cli(t, srv, admin, "", "policies", "list")
	if err != nil || strings.Contains(out, "built-in") || !strings.Contains(out, "no-clock") || !strings.Contains(out, "rest") {
		t.Errorf("list after: %q %v", out, err)
	}
	// A bad file is refused before anything is sent.
	bad := writeFile(t, dir, "bad.cedar", "permit (")
	if _, _, err = cli(t, srv, admin, "", "policies", "apply", rest, bad); err == nil {
		t.Error("apply with a bad file succeeded")
	}
	for _, name := range []string{"no-clock", "rest"} {
		if _, _, err := cli(t, srv, admin, "", "policies", "delete", name); err != nil {
			t.Fatal(err)
		}
	}
	if out, _, err = cli(t, srv, admin, "", "policies", "list"); err != nil || !strings.Contains(out, "built-in default") {
		t.Errorf("list after deleting all: %q %v", out, err)
	}
}
