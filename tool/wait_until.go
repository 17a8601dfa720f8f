package tool

import (
	"context"
	"encoding/json"
	"time"

	"github.com/engram-run/engram"
)

// WaitUntilName is the built-in tool a model calls to sleep until a time.
const WaitUntilName = "wait_until"

// maxWait bounds a single wait: a model that asks for a date years away
// has most likely made a mistake.
const maxWait = 366 * 24 * time.Hour

// WaitUntil lets a model pause its run until a time. The runtime carries
// it out itself, durably: the run lets go of its worker and resumes when
// the time comes, across restarts, costing nothing meanwhile. Call is never
// reached through the runtime.
type WaitUntil struct{}

// Spec implements engram.Tool.
func (WaitUntil) Spec() engram.ToolSpec {
	return engram.ToolSpec{
		Type:        engram.ToolBuiltin,
		Name:        WaitUntilName,
		Description: "Pauses this task until a time, then continues it. Give either \"time\" (RFC 3339, e.g. 2026-11-24T09:00:00+01:00) or \"seconds\" from now. At most a year.",
		Parameters:  json.RawMessage(`{"type":"object","properties":{"time":{"type":"string","description":"RFC 3339 date and time"},"seconds":{"type":"integer","minimum":0}},"additionalProperties":false}`),
		Idempotent:  true,
	}
}

// Call implements engram.Tool.
func (WaitUntil) Call(context.Context, engram.ToolCall) (string, error) {
	return "", engram.Errorf(engram.EInternal, "wait_until is carried out by the runtime")
}

// ParseWaitUntil reads wait_until's arguments: the time to wake at.
func ParseWaitUntil(args json.RawMessage, now time.Time) (time.Time, error) {
	var a struct {
		Time    string `json:"time"`
		Seconds *int64 `json:"seconds"`
	}
	if err := json.Unmarshal(args, &a); err != nil {
		return time.Time{}, engram.Errorf(engram.EInvalid, "wait_until: arguments must be a JSON object like {\"seconds\": 60} or {\"time\": \"2026-11-24T09:00:00Z\"}")
	}
	var at time.Time
	switch {
	case a.Time != "" && a.Seconds != nil:
		return time.Time{}, engram.Errorf(engram.EInvalid, "wait_until: give time or seconds, not both")
	case a.Time != "":
		t, err := time.Parse(time.RFC3339, a.Time)
		if err != nil {
			return time.Time{}, engram.Errorf(engram.EInvalid, "wait_until: time %q is not RFC 3339 (e.g. 2026-11-24T09:00:00Z)", a.Time)
		}
		at = t
	case a.Seconds != nil:
		if *a.Seconds < 0 {
			return time.Time{}, engram.Errorf(engram.EInvalid, "wait_until: seconds must not be negative")
		}
		if time.Duration(*a.Seconds) > maxWait/time.Second {
			return time.Time{}, engram.Errorf(engram.EInvalid, "wait_until: at most a year")
		}
		at = now.Add(time.Duration(*a.Seconds) * time.Second)
	default:
		return time.Time{}, engram.Errorf(engram.EInvalid, "wait_until: give time or seconds")
	}
	if at.Sub(now) > maxWait {
		return time.Time{}, engram.Errorf(engram.EInvalid, "wait_until: at most a year ahead")
	}
	return at, nil
}
