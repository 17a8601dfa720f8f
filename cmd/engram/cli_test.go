package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// cli runs an engram client command against srv with key, returning its
// output and error.
func cli(t *testing.T, srv *testServer, key, stdin string, args ...string) (string, string, error) {
	t.Helper()
	state := filepath.Join(srv.DataDir, "cli-state.json")
	env := map[string]string{"ENGRAM_URL": srv.URL, "ENGRAM_API_KEY": key, "ENGRAM_CLI_STATE": state}
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestChatKeepsConversation(t *testing.T) {
	srv := startEngram(t, nil)
	out, errOut, err := cli(t, srv, srv.AdminKey, "", "chat", "--model", "scripted/recall", "I keep three hives.")
	if err != nil || strings.TrimSpace(out) != "I keep three hives." {
		t.Fatalf("first chat: %q %q %v", out, errOut, err)
	}
	if !strings.Contains(errOut, "scripted: a deterministic offline test model") {
		t.Errorf("the scripted model is not labelled: %q", errOut)
	}
	out, _, err = cli(t, srv, srv.AdminKey, "", "chat", "--model", "scripted/recall", "How many hives?")
	if err != nil || strings.TrimSpace(out) != "I keep three hives. | How many hives?" {
		t.Fatalf("second chat did not continue: %q %v", out, err)
	}
	out, _, err = cli(t, srv, srv.AdminKey, "", "chat", "--model", "scripted/recall", "--new", "Fresh start.")
	if err != nil || strings.TrimSpace(out) != "Fresh start." {
		t.Fatalf("--new: %q %v", out, err)
	}
	// Interactive: lines from stdin, /new, /quit.
	out, _, err = cli(t, srv, srv.AdminKey, "one\ntwo\n/new\nthree\n/quit\nnever\n", "chat", "--model", "scripted/recall")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := []string{"Fresh start. | one", "Fresh start. | one | two", "three"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("interactive answers %q, want %q", lines, want)
	}
}

func TestAgentsConversationsKeysCommands(t *testing.T) {
	srv := startEngram(t, nil)
	admin := srv.AdminKey
	out, _, err := cli(t, srv, admin, "", "agents", "create", "--name", "keeper", "--model", "scripted/recall", "--instructions", "You help a beekeeper.", "--budget-tokens", "8000")
	if err != nil || !strings.Contains(out, "keeper") || !strings.Contains(out, "version 1") {
		t.Fatalf("create: %q %v", out, err)
	}
	out, _, err = cli(t, srv, admin, "", "agents", "update", "keeper", "--instructions", "Be brief.")
	if err != nil || !strings.Contains(out, "version 2") {
		t.Fatalf("update: %q %v", out, err)
	}
	out, _, _ = cli(t, srv, admin, "", "agents", "show", "keeper", "--version", "1")
	if !strings.Contains(out, "You help a beekeeper.") || !strings.Contains(out, "8000") {
		t.Errorf("show version 1: %q", out)
	}
	out, _, _ = cli(t, srv, admin, "", "agents", "versions", "keeper")
	if strings.Count(out, "keeper") != 2 {
		t.Errorf("versions: %q", out)
	}
	out, _, _ = cli(t, srv, admin, "", "agents", "list")
	if !strings.Contains(out, "keeper") || !strings.Contains(out, "scripted/recall") {
		t.Errorf("list: %q", out)
	}

	// A chat with the agent, then its conversation through the commands.
	if out, _, err := cli(t, srv, admin, "", "chat", "--agent", "keeper", "--user", "ada", "Hive 2 is queenless."); err != nil || !strings.Contains(out, "Hive 2 is queenless.") {
		t.Fatalf("agent chat: %q %v", out, err)
	}
	out, _, _ = cli(t, srv, admin, "", "conversations", "list", "--agent", "keeper", "--user", "ada")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("conversations list: %q", out)
	}
	convID := strings.Fields(lines[1])[0]
	out, _, _ = cli(t, srv, admin, "", "conversations", "show", convID)
	if !strings.Contains(out, "user: Hive 2 is queenless.") || !strings.Contains(out, "assistant: Hive 2 is queenless.") {
		t.Errorf("show: %q", out)
	}
	if _, _, err := cli(t, srv, admin, "", "conversations", "delete", convID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cli(t, srv, admin, "", "conversations", "show", convID); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("show after delete: %v", err)
	}
	if out, _, err := cli(t, srv, admin, "", "agents", "delete", "keeper"); err != nil || !strings.Contains(out, "deleted") {
		t.Errorf("agents delete: %q %v", out, err)
	}

	// Keys: create, use, list, revoke, refused.
	out, _, err = cli(t, srv, admin, "", "keys", "create", "--name", "front-end", "--role", "invoker", "--user", "ada")
	if err != nil {
		t.Fatal(err)
	}
	var secret, keyID string
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "sk-engram-") {
			secret = f
		}
		if strings.HasPrefix(f, "key_") {
			keyID = strings.TrimSuffix(f, ".")
		}
	}
	if secret == "" || keyID == "" {
		t.Fatalf("keys create printed no secret or id: %q", out)
	}
	if _, _, err := cli(t, srv, secret, "", "conversations", "list"); err != nil {
		t.Fatalf("the new key does not work: %v", err)
	}
	out, _, _ = cli(t, srv, admin, "", "keys", "list")
	if !strings.Contains(out, "front-end") || strings.Contains(out, secret) {
		t.Errorf("keys list shows %q (must list the key, never its secret)", out)
	}
	if _, _, err := cli(t, srv, admin, "", "keys", "revoke", keyID); err != nil {
		t.Fatal(err)
	}
	_, _, err = cli(t, srv, secret, "", "conversations", "list")
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("a revoked key still works: %v", err)
	}
	if _, _, err := cli(t, srv, "sk-engram-wrong", "", "agents", "list"); err == nil || !strings.Contains(err.Error(), "Incorrect API key") {
		t.Errorf("bad key error: %v", err)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"serve", "-h"}, {"chat", "-h"}, {"agents", "--help"}, {"bench", "-h"}} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), args, func(string) string { return "" }, strings.NewReader(""), &out, &errOut); err != nil {
			t.Errorf("%v: %v", args, err)
		}
		if out.Len()+errOut.Len() == 0 || !strings.Contains(out.String()+errOut.String(), "Usage") {
			t.Errorf("%v printed no usage", args)
		}
	}
}
