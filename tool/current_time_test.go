package tool

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/engram-run/engram"
)

func TestCurrentTime(t *testing.T) {
	fixed := time.Date(2026, 7, 1, 12, 30, 0, 0, time.UTC)
	tool := CurrentTime{Now: func() time.Time { return fixed }}
	tests := []struct {
		args, wantTime, wantOffset, wantErr string
	}{
		{``, "2026-07-01T12:30:00Z", "+00:00", ""},
		{`{}`, "2026-07-01T12:30:00Z", "+00:00", ""},
		{`{"timezone":"Europe/Lisbon"}`, "2026-07-01T13:30:00+01:00", "+01:00", ""},
		{`{"timezone":"America/St_Johns"}`, "2026-07-01T10:00:00-02:30", "-02:30", ""},
		{`{"timezone":"Asia/Kolkata"}`, "2026-07-01T18:00:00+05:30", "+05:30", ""},
		{`{"timezone":"Mars/Olympus"}`, "", "", engram.EInvalid},
		{`[1,2]`, "", "", engram.EInvalid},
	}
	for _, tt := range tests {
		out, err := tool.Call(context.Background(), engram.ToolCall{Arguments: json.RawMessage(tt.args)})
		if tt.wantErr != "" {
			if engram.ErrorCode(err) != tt.wantErr {
				t.Errorf("Call(%s) err = %v, want %s", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Call(%s): %v", tt.args, err)
		}
		var got struct {
			Datetime  string `json:"datetime"`
			UTCOffset string `json:"utc_offset"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("output %s: %v", out, err)
		}
		if got.Datetime != tt.wantTime || got.UTCOffset != tt.wantOffset {
			t.Errorf("Call(%s) = %s, want datetime %s offset %s", tt.args, out, tt.wantTime, tt.wantOffset)
		}
	}
}
