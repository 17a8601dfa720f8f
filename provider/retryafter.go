package provider

import (
	"math"
	"net/http"
	"strconv"
	"time"
)

// RetryAfter reads the wait an upstream asks for, as the SDKs do:
// retry-after-ms first, then retry-after in seconds or as an HTTP date. A
// wait is never negative and saturates at a year.
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if ms, err := strconv.ParseFloat(h.Get("Retry-After-Ms"), 64); err == nil {
		return durationOf(ms, time.Millisecond), true
	}
	v := h.Get("Retry-After")
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		return durationOf(s, time.Second), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now)), true
	}
	return 0, false
}

func durationOf(n float64, unit time.Duration) time.Duration {
	d := n * float64(unit)
	switch {
	case math.IsNaN(d) || d < 0:
		return 0
	case d > float64(365*24*time.Hour):
		return 365 * 24 * time.Hour
	}
	return time.Duration(d)
}

// HopelessRetry reports whether an answer asks to be retried only after
// the request's deadline. The SDKs would sleep through such a wait and the
// caller would see a timeout, later, where the truth is the upstream's rate
// limit or outage, now: adapters tell their SDK not to retry it (the SDKs
// honour X-Should-Retry: false).
func HopelessRetry(req *http.Request, res *http.Response) bool {
	if res == nil || res.StatusCode < 400 {
		return false
	}
	deadline, has := req.Context().Deadline()
	wait, asked := RetryAfter(res.Header, time.Now())
	return has && asked && time.Now().Add(wait).After(deadline)
}
