package main

import (
	"strings"
	"testing"
)

func TestRetentionCommand(t *testing.T) {
	srv := startEngram(t, nil)
	out, _, err := cli(t, srv, srv.AdminKey, "", "retention", "get")
	if err != nil || strings.Count(out, "kept for ever") != 3 {
		t.Fatalf("get: %q %v", out, err)
	}
	out, _, err = cli(t, srv, srv.AdminKey, "", "retention", "set", "--conversations-days", "30", "--events-days", "1")
	if err != nil || !strings.Contains(out, "conversations: 30 days") || !strings.Contains(out, "stream events: 1 day") || !strings.Contains(out, "responses:     kept for ever") {
		t.Fatalf("set: %q %v", out, err)
	}
	out, _, _ = cli(t, srv, srv.AdminKey, "", "retention", "get", "--json")
	if !strings.Contains(out, `"conversations_days": 30`) {
		t.Errorf("get --json: %q", out)
	}
	if _, _, err := cli(t, srv, srv.AdminKey, "", "retention", "set", "--responses-days", "-1"); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("a negative number of days: %v", err)
	}
	if _, _, err := cli(t, srv, srv.AdminKey, "", "retention", "set"); err == nil || !strings.Contains(err.Error(), "nothing to set") {
		t.Errorf("set without flags: %v", err)
	}
	out, _, err = cli(t, srv, srv.AdminKey, "", "retention", "log")
	if err != nil || !strings.HasPrefix(out, "AT") {
		t.Errorf("log: %q %v", out, err)
	}
	_, errOut, err := cli(t, srv, srv.AdminKey, "", "retention", "--help")
	if err != nil || !strings.Contains(errOut, "retention set [--conversations-days N]") {
		t.Errorf("--help: %q %v", errOut, err)
	}
}
