package provider

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/engram-run/engram"
)

// CallError maps a failed model call to the domain, the same way for every
// adapter. The caller's own cancellation passes through as ctx.Err(). A
// call that ran past its own deadline (callCtx) is EUpstreamTimeout, even
// when the read it cut short does not say so. status is the upstream's HTTP
// status when it answered with one (0 otherwise) and msg its message: 429
// after the SDK's retries is ERateLimited, any other status EUpstream. A
// domain error (a malformed stream) is kept; anything else is EUpstream.
func CallError(ctx, callCtx context.Context, name string, timeout time.Duration, status int, msg string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, context.DeadlineExceeded) || callCtx.Err() != nil {
		return engram.Errorf(engram.EUpstreamTimeout, "%s did not answer within %s", name, timeout)
	}
	if status != 0 {
		if msg == "" {
			msg = http.StatusText(status)
		}
		if status == http.StatusTooManyRequests {
			return engram.Errorf(engram.ERateLimited, "%s is rate limiting requests: %s", name, msg)
		}
		return engram.Errorf(engram.EUpstream, "%s answered %d: %s", name, status, msg)
	}
	var e *engram.Error
	if errors.As(err, &e) {
		return e
	}
	return engram.Errorf(engram.EUpstream, "%s: %v", name, err)
}
