package tool

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/engram-run/engram"
)

// CurrentTime tells the model the date and time in a time zone: models do
// not know when "now" is.
type CurrentTime struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Spec implements engram.Tool.
func (CurrentTime) Spec() engram.ToolSpec {
	return engram.ToolSpec{
		Type:        engram.ToolBuiltin,
		Name:        "current_time",
		Description: "Returns the current date and time. Give an IANA time zone (e.g. Europe/Lisbon, America/New_York); the default is UTC.",
		Parameters:  json.RawMessage(`{"type":"object","properties":{"timezone":{"type":"string","description":"IANA time zone name, e.g. Europe/Lisbon"}},"additionalProperties":false}`),
	}
}

// Call implements engram.Tool.
func (c CurrentTime) Call(_ context.Context, call engram.ToolCall) (string, error) {
	var args struct {
		Timezone string `json:"timezone"`
	}
	if len(call.Arguments) > 0 {
		if err := json.Unmarshal(call.Arguments, &args); err != nil {
			return "", engram.Errorf(engram.EInvalid, "current_time: arguments must be a JSON object like {\"timezone\":\"Europe/Lisbon\"}: %v", err)
		}
	}
	if args.Timezone == "" {
		args.Timezone = "UTC"
	}
	loc, err := time.LoadLocation(args.Timezone)
	if err != nil {
		return "", engram.Errorf(engram.EInvalid, "current_time: unknown time zone %q: use an IANA name such as Europe/Lisbon", args.Timezone)
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	t := now().In(loc)
	out, _ := json.Marshal(map[string]any{
		"timezone":   args.Timezone,
		"datetime":   t.Format(time.RFC3339),
		"weekday":    t.Weekday().String(),
		"unix":       t.Unix(),
		"utc_offset": fmt.Sprintf("%+03d:%02d", offsetHours(t), offsetMinutes(t)),
	})
	return string(out), nil
}

func offsetHours(t time.Time) int {
	_, off := t.Zone()
	return off / 3600
}

func offsetMinutes(t time.Time) int {
	_, off := t.Zone()
	if off < 0 {
		off = -off
	}
	return off % 3600 / 60
}
