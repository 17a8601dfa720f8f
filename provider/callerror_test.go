package provider

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/engram-run/engram"
)

func TestCallError(t *testing.T) {
	live := context.Background()
	cancelled, cancel := context.WithCancel(live)
	cancel()
	expired, stop := context.WithTimeout(live, -time.Second)
	defer stop()
	tests := []struct {
		name          string
		ctx, callCtx  context.Context
		status        int
		err           error
		want, message string
	}{
		{"caller went away", cancelled, cancelled, 0, errors.New("read: closed"), "", ""},
		{"our deadline", live, expired, 0, errors.New("read: closed"), engram.EUpstreamTimeout, "did not answer within 2s"},
		{"deadline in the error", live, live, 0, context.DeadlineExceeded, engram.EUpstreamTimeout, ""},
		{"429", live, live, 429, errors.New("x"), engram.ERateLimited, "rate limiting requests: slow down"},
		{"400", live, live, 400, errors.New("x"), engram.EUpstream, "answered 400: slow down"},
		{"malformed stream", live, live, 0, engram.Errorf(engram.EUpstream, "malformed stream"), engram.EUpstream, "malformed stream"},
		{"connection", live, live, 0, errors.New("connection refused"), engram.EUpstream, "m: connection refused"},
	}
	for _, tt := range tests {
		err := CallError(tt.ctx, tt.callCtx, "m", 2*time.Second, tt.status, "slow down", tt.err)
		if tt.want == "" {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s: %v, want context.Canceled", tt.name, err)
			}
			continue
		}
		if engram.ErrorCode(err) != tt.want || (tt.message != "" && !strings.Contains(err.Error(), tt.message)) {
			t.Errorf("%s: %v, want %s with %q", tt.name, err, tt.want, tt.message)
		}
	}
}
