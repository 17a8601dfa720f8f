package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestBench runs `engram bench` small: it must drive a real server to the
// end and report every figure the issue names.
func TestBench(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"bench", "-turns", "20", "-growers", "1", "-concurrency", "4", "-duration", "200ms"},
		func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, errOut.String())
	}
	for _, figure := range []string{"p50 per turn at turn 10", "p99 per turn at turn 20", "turn 20 p50 / turn 10 p50",
		"turns/s, 4 conversations at once", "bytes on disk per turn", "disk / raw text", "resident memory"} {
		if !strings.Contains(out.String(), figure) {
			t.Errorf("bench output lacks %q:\n%s", figure, out.String())
		}
	}
}
