package main

import (
	"context"
	"strings"
	"testing"
)

func TestReadSSE(t *testing.T) {
	var got []string
	err := readSSE(strings.NewReader("event: a\ndata: {\"x\":1}\n\n: comment\nevent: b\ndata: 2\n\nevent: c\n\n"), func(ev sseEvent) error {
		got = append(got, ev.Type+"="+string(ev.Data))
		return nil
	})
	if err != nil || strings.Join(got, ";") != `a={"x":1};b=2` {
		t.Fatalf("events %q, err %v", got, err)
	}
}

// FuzzReadSSE: whatever a server streams, the reader returns events or an
// error, never panics.
func FuzzReadSSE(f *testing.F) {
	f.Add("event: response.output_text.delta\ndata: {\"delta\":\"hi\"}\n\n")
	f.Add("data: [DONE]\n\n")
	f.Add("event:\ndata:\n\n\n")
	f.Fuzz(func(t *testing.T, stream string) {
		_ = readSSE(strings.NewReader(stream), func(ev sseEvent) error {
			if ev.Data == nil {
				t.Fatal("an event without data was delivered")
			}
			return nil
		})
	})
}

// TestHelpHidesKey: -h of a client command never prints the key it would
// use from the environment.
func TestHelpHidesKey(t *testing.T) {
	const secret = "sk-engram-do-not-print-me-0123456789"
	for _, args := range [][]string{{"runs", "-h"}, {"agents", "-h"}, {"memory", "search", "-h"}, {"usage", "-h"}, {"chat", "-h"}} {
		var out, errOut strings.Builder
		getenv := func(k string) string {
			if k == "ENGRAM_API_KEY" {
				return secret
			}
			return ""
		}
		_ = run(context.Background(), args, getenv, strings.NewReader(""), &out, &errOut)
		all := out.String() + errOut.String()
		if strings.Contains(all, "do-not-print-me") {
			t.Errorf("%v printed the key: %s", args, all)
		}
		if !strings.Contains(all, "-key") {
			t.Errorf("%v: no help printed: %s", args, all)
		}
	}
}
