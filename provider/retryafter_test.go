package provider

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		ms, seconds string
		want        time.Duration
		ok          bool
	}{
		{"", "2", 2 * time.Second, true},
		{"1500", "9", 1500 * time.Millisecond, true},
		{"", "Thu, 01 Jan 2026 00:00:30 GMT", 30 * time.Second, true},
		{"", "Wed, 21 Oct 2015 07:28:00 GMT", 0, true},
		{"-5", "", 0, true},
		{"", "soon", 0, false},
	}
	for _, tt := range tests {
		h := http.Header{}
		h.Set("Retry-After-Ms", tt.ms)
		h.Set("Retry-After", tt.seconds)
		if got, ok := RetryAfter(h, now); got != tt.want || ok != tt.ok {
			t.Errorf("RetryAfter(%q, %q) = %s, %v; want %s, %v", tt.ms, tt.seconds, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzRetryAfter: whatever an upstream puts in its retry headers, a wait
// that is never negative.
func FuzzRetryAfter(f *testing.F) {
	f.Add("", "2")
	f.Add("1500", "")
	f.Add("", "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add("NaN", "1e400")
	f.Add("-5", "-1")
	f.Fuzz(func(t *testing.T, ms, seconds string) {
		h := http.Header{}
		h.Set("Retry-After-Ms", ms)
		h.Set("Retry-After", seconds)
		wait, ok := RetryAfter(h, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		if !ok && wait != 0 {
			t.Fatalf("no wait read but %s", wait)
		}
		if wait < 0 {
			t.Fatalf("negative wait %s", wait)
		}
	})
}
