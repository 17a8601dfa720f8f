package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// firstField is the first word of out's line that contains substr.
func firstField(t *testing.T, out, substr string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, substr) {
			return strings.Fields(line)[0]
		}
	}
	t.Fatalf("no line with %q in:\n%s", substr, out)
	return ""
}

// TestMemoryRecordsCommands: records added, listed, searched, superseded,
// shown and deleted through the commands, scoped by agent and user.
func TestMemoryRecordsCommands(t *testing.T) {
	srv := startEngram(t, nil)
	admin := srv.AdminKey
	if _, _, err := cli(t, srv, admin, "", "agents", "create", "--name", "keeper", "--model", "scripted/echo"); err != nil {
		t.Fatal(err)
	}
	scope := []string{"--agent", "keeper", "--user", "ada"}
	add := func(args ...string) string {
		t.Helper()
		out, errOut, err := cli(t, srv, admin, "", append(append([]string{"memory", "records", "add"}, scope...), args...)...)
		if err != nil {
			t.Fatalf("add %v: %v %s", args, err, errOut)
		}
		return strings.Fields(out)[0]
	}
	hives := add("Ada", "keeps", "three", "hives", "in", "Lisbon.")
	if !strings.HasPrefix(hives, "mem_") {
		t.Fatalf("add printed %q first, not the record's id", hives)
	}
	add("--kind", "preference", "Ada prefers short answers.")
	// Another user's memory, with the same words, must not show up.
	if _, _, err := cli(t, srv, admin, "", "memory", "records", "add", "--agent", "keeper", "--user", "bob", "Bob keeps hives in Porto."); err != nil {
		t.Fatal(err)
	}

	out, _, err := cli(t, srv, admin, "", append([]string{"memory", "records", "list"}, scope...)...)
	if err != nil || !strings.HasPrefix(out, "ID") || !strings.Contains(out, hives) || !strings.Contains(out, "Ada prefers short answers.") || strings.Contains(out, "Bob") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	out, _, _ = cli(t, srv, admin, "", append([]string{"memory", "records", "list", "--kind", "preference"}, scope...)...)
	if strings.Contains(out, "hives") || !strings.Contains(out, "short answers") {
		t.Errorf("list --kind preference:\n%s", out)
	}

	out, _, err = cli(t, srv, admin, "", append([]string{"memory", "search", "--mode", "bm25"}, append(scope, "how", "many", "hives")...)...)
	if err != nil || !strings.Contains(out, "SCORE") || !strings.Contains(out, hives) || strings.Contains(out, "Bob") {
		t.Fatalf("search: %v\n%s", err, out)
	}

	// A correction supersedes the old record: it leaves searches and lists,
	// stays with --all, and shows who replaced it.
	five := add("--supersedes", hives, "Ada keeps five hives in Lisbon.")
	out, _, _ = cli(t, srv, admin, "", append([]string{"memory", "search"}, append(scope, "hives")...)...)
	if !strings.Contains(out, five) || strings.Contains(out, hives) {
		t.Errorf("search after supersede:\n%s", out)
	}
	out, _, _ = cli(t, srv, admin, "", append([]string{"memory", "records", "list"}, scope...)...)
	if strings.Contains(out, hives) {
		t.Errorf("list shows a superseded record without --all:\n%s", out)
	}
	out, _, _ = cli(t, srv, admin, "", append([]string{"memory", "records", "list", "--all"}, scope...)...)
	if !strings.Contains(out, "SUPERSEDED BY") || !strings.Contains(out, hives) || !strings.Contains(out, five) {
		t.Errorf("list --all:\n%s", out)
	}
	out, _, err = cli(t, srv, admin, "", "memory", "records", "show", hives)
	if err != nil || !strings.Contains(out, "superseded by: "+five) || !strings.Contains(out, "three hives") || !strings.Contains(out, "user: ada") {
		t.Errorf("show: %v\n%s", err, out)
	}
	_, _, err = cli(t, srv, admin, "", append([]string{"memory", "records", "add", "--supersedes", hives}, append(scope, "Ada keeps six hives.")...)...)
	if err == nil || !strings.Contains(err.Error(), "409: ") || !strings.Contains(err.Error(), "already superseded") {
		t.Errorf("superseding a superseded record: %v", err)
	}

	// --json gives the server's JSON.
	out, _, err = cli(t, srv, admin, "", "memory", "records", "show", five, "--json")
	var rec struct{ ID, Supersedes, Text string }
	if err != nil || json.Unmarshal([]byte(out), &rec) != nil || rec.ID != five || rec.Supersedes != hives {
		t.Errorf("show --json: %v\n%s", err, out)
	}
	// Text from stdin.
	out, _, err = cli(t, srv, admin, "Ada's queen is marked blue.\n", append(append([]string{"memory", "records", "add"}, scope...), "-")...)
	if err != nil || !strings.Contains(out, "Ada's queen is marked blue.") {
		t.Errorf("add from stdin: %v\n%s", err, out)
	}

	if out, _, err := cli(t, srv, admin, "", "memory", "records", "delete", five); err != nil || !strings.Contains(out, "deleted memory record "+five) {
		t.Fatalf("delete: %v %s", err, out)
	}
	_, _, err = cli(t, srv, admin, "", "memory", "records", "show", five)
	if err == nil || !strings.Contains(err.Error(), "404: Memory record with id '"+five+"' not found.") {
		t.Errorf("show after delete: %v", err)
	}
}

// TestMemoryBlocksCommands: a block created, changed, shown with its
// versions, refused on a stale --expect-version, and deleted.
func TestMemoryBlocksCommands(t *testing.T) {
	srv := startEngram(t, nil)
	admin := srv.AdminKey
	out, _, err := cli(t, srv, admin, "", "memory", "blocks", "create", "--label", "human", "--limit", "500", "Name:", "Ada.")
	if err != nil || !strings.Contains(out, "human (blk_") || !strings.Contains(out, "version 1, 10/500 characters") {
		t.Fatalf("create: %v\n%s", err, out)
	}
	id := strings.Trim(strings.Fields(out)[1], "()")
	out, _, err = cli(t, srv, admin, "", "memory", "blocks", "create", "--label", "rules", "--read-only", "Be brief.")
	if err != nil || !strings.Contains(out, "read-only") {
		t.Fatalf("create --read-only: %v\n%s", err, out)
	}

	out, _, err = cli(t, srv, admin, "", "memory", "blocks", "set", id, "--expect-version", "1", "Name: Ada. Keeps three hives.")
	if err != nil || !strings.Contains(out, "version 2") {
		t.Fatalf("set: %v\n%s", err, out)
	}
	_, _, err = cli(t, srv, admin, "", "memory", "blocks", "set", id, "--expect-version", "1", "Name: Ada. Keeps no hives.")
	if err == nil || !strings.Contains(err.Error(), "409: ") || !strings.Contains(err.Error(), "at version 2, not 1") {
		t.Errorf("a stale --expect-version: %v", err)
	}
	if out, _, err = cli(t, srv, admin, "", "memory", "blocks", "set", id, "--description", "who the user is"); err != nil || !strings.Contains(out, "version 3") || !strings.Contains(out, "three hives") {
		t.Errorf("set a flag alone: %v\n%s", err, out)
	}
	if _, _, err := cli(t, srv, admin, "", "memory", "blocks", "set", id); err == nil || !strings.Contains(err.Error(), "nothing to set") {
		t.Errorf("set with nothing: %v", err)
	}

	out, _, err = cli(t, srv, admin, "", "memory", "blocks", "show", id, "--versions")
	if err != nil || !strings.Contains(out, "description: who the user is") || !strings.Contains(out, "VERSION") {
		t.Fatalf("show --versions: %v\n%s", err, out)
	}
	var rows []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && (f[0] == "1" || f[0] == "2" || f[0] == "3") {
			rows = append(rows, line)
		}
	}
	if len(rows) != 3 || !strings.Contains(rows[0], "Name: Ada.") || !strings.Contains(rows[1], "three hives") || !strings.Contains(rows[0], "api") {
		t.Errorf("versions table rows %q:\n%s", rows, out)
	}
	out, _, err = cli(t, srv, admin, "", "memory", "blocks", "show", id, "--versions", "--json")
	var both struct {
		Block    struct{ Version int }
		Versions struct{ Data []struct{ Version int } }
	}
	if err != nil || json.Unmarshal([]byte(out), &both) != nil || both.Block.Version != 3 || len(both.Versions.Data) != 3 {
		t.Errorf("show --versions --json: %v\n%s", err, out)
	}

	out, _, err = cli(t, srv, admin, "", "memory", "blocks", "list")
	if err != nil || !strings.Contains(out, "human") || !strings.Contains(out, "rules") || !strings.Contains(out, "READ-ONLY") {
		t.Errorf("list: %v\n%s", err, out)
	}
	if out, _, err := cli(t, srv, admin, "", "memory", "blocks", "delete", id); err != nil || !strings.Contains(out, "deleted memory block "+id) {
		t.Errorf("delete: %v %s", err, out)
	}
	if _, _, err := cli(t, srv, admin, "", "memory", "blocks", "show", id); err == nil || !strings.Contains(err.Error(), "404: ") {
		t.Errorf("show after delete: %v", err)
	}
	if _, _, err := cli(t, srv, admin, "", "memory", "blocks", "create", "--label", "Bad Label", "x"); err == nil || !strings.Contains(err.Error(), "400: ") {
		t.Errorf("a bad label: %v", err)
	}
}

// TestUsageCommand: after a few turns, the totals per project, agent and
// user, and the extraction status of a conversation whose agent does not
// extract.
func TestUsageCommand(t *testing.T) {
	srv := startEngram(t, nil)
	admin := srv.AdminKey
	if _, _, err := cli(t, srv, admin, "", "agents", "create", "--name", "keeper", "--model", "scripted/echo"); err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"I keep three hives.", "One is queenless.", "What should I do?"} {
		if _, errOut, err := cli(t, srv, admin, "", "chat", "--agent", "keeper", "--user", "ada", msg); err != nil {
			t.Fatalf("chat: %v %s", err, errOut)
		}
	}
	if _, _, err := cli(t, srv, admin, "", "chat", "--model", "scripted/echo", "--new", "hello"); err != nil {
		t.Fatal(err)
	}

	out, _, err := cli(t, srv, admin, "", "usage")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "PROJECT CALLS INPUT CACHED OUTPUT STATELESS INPUT SAVED" {
		t.Fatalf("usage:\n%s", out)
	}
	if f := strings.Fields(lines[1]); f[2] != "4" || !strings.HasSuffix(f[len(f)-1], "%") {
		t.Errorf("project totals %q: want 4 calls and a saved share", f)
	}

	out, _, _ = cli(t, srv, admin, "", "usage", "--by", "agent", "--since", "1h")
	if !strings.Contains(out, "keeper (agent_") || !strings.Contains(out, "(none)") {
		t.Errorf("usage --by agent:\n%s", out)
	}
	out, _, _ = cli(t, srv, admin, "", "usage", "--by", "user", "--agent", "keeper")
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "ada ") || strings.Fields(lines[1])[1] != "3" {
		t.Errorf("usage --by user --agent keeper:\n%s", out)
	}
	out, _, err = cli(t, srv, admin, "", "usage", "--by", "model", "--json")
	var list struct {
		Data []struct {
			Group      string
			ModelCalls int `json:"model_calls"`
		}
	}
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list.Data) != 1 || list.Data[0].Group != "scripted/echo" || list.Data[0].ModelCalls != 4 {
		t.Errorf("usage --json: %v\n%s", err, out)
	}
	if _, _, err := cli(t, srv, admin, "", "usage", "--by", "colour"); err == nil || !strings.Contains(err.Error(), "400: ") || !strings.Contains(err.Error(), "group_by") {
		t.Errorf("usage --by colour: %v", err)
	}
	if _, _, err := cli(t, srv, admin, "", "usage", "--since", "yesterday"); err == nil || !strings.Contains(err.Error(), "invalid --since") {
		t.Errorf("usage --since yesterday: %v", err)
	}

	out, _, _ = cli(t, srv, admin, "", "conversations", "list", "--agent", "keeper")
	conv := firstField(t, out, " ada ")
	out, _, err = cli(t, srv, admin, "", "memory", "extraction", conv)
	if err != nil || !strings.Contains(out, conv+": extraction off") {
		t.Errorf("memory extraction: %v\n%s", err, out)
	}
	if _, _, err := cli(t, srv, admin, "", "memory", "extraction", "conv_nope"); err == nil || !strings.Contains(err.Error(), "404: ") {
		t.Errorf("extraction of an unknown conversation: %v", err)
	}
}

// TestMemoryCommandErrors: what the memory commands say when they cannot do
// their work, and that each prints its usage.
func TestMemoryCommandErrors(t *testing.T) {
	srv := startEngram(t, nil)
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"memory", "records", "show", "mem_nope"}, "404: Memory record with id 'mem_nope' not found."},
		{[]string{"memory", "records", "delete", "mem_nope"}, "404: "},
		{[]string{"memory", "records", "show"}, "missing record ID"},
		{[]string{"memory", "records", "add", "--agent", "keeper"}, "missing TEXT"},
		{[]string{"memory", "records", "add", "--agent", "nobody", "a fact"}, "404: Agent 'nobody' not found."},
		{[]string{"memory", "records", "list", "--kind", "rumour"}, "400: "},
		{[]string{"memory", "search"}, "missing QUERY"},
		{[]string{"memory", "search", "--mode", "psychic", "hives"}, "400: "},
		{[]string{"memory", "blocks", "set", "blk_nope", "x"}, "404: "},
		{[]string{"memory", "records", "rotate"}, `unknown command "rotate" for engram memory records`},
		{[]string{"memory", "recall"}, `unknown command "recall" for engram memory`},
		{[]string{"memory", "records", "list", "--colour"}, "usage"},
		{[]string{"usage", "extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, _, err := cli(t, srv, srv.AdminKey, "", tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	for _, args := range [][]string{{"memory", "-h"}, {"memory", "records", "-h"}, {"memory", "records", "add", "-h"},
		{"memory", "blocks", "--help"}, {"memory", "blocks", "set", "-h"}, {"memory", "search", "-h"}, {"usage", "-h"}} {
		_, errOut, err := cli(t, srv, srv.AdminKey, "", args...)
		if err != nil || !strings.Contains(errOut, "Usage: engram ") {
			t.Errorf("%v: %v, printed %q", args, err, errOut)
		}
	}
	_, errOut, _ := cli(t, srv, srv.AdminKey, "", "memory", "blocks", "set", "-h")
	if !strings.Contains(errOut, "-expect-version") {
		t.Errorf("memory blocks set -h lists no -expect-version: %s", errOut)
	}
}
