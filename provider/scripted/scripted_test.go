package scripted

import (
	"context"
	"strings"
	"testing"

	"github.com/engram-run/engram"
)

func user(s string) *engram.Item {
	return &engram.Item{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: s}}}
}

func TestScripted(t *testing.T) {
	tools := []engram.ToolSpec{{Type: engram.ToolFunction, Name: "get_weather"}}
	tests := []struct {
		name     string
		req      engram.ModelRequest
		wantText string
		wantCall string // name and arguments
	}{
		{"echo", engram.ModelRequest{Model: "echo", Input: []*engram.Item{user("hi"), user("there you are")}}, "echo: there you are", ""},
		{"recall", engram.ModelRequest{Model: "recall", Input: []*engram.Item{user("a"), {Type: engram.ItemMessage, Role: "assistant", Content: []engram.Content{{Type: engram.ContentOutputText, Text: "x"}}}, user("b")}}, "a | b", ""},
		{"tools", engram.ModelRequest{Model: "tools", Tools: tools, Input: []*engram.Item{user("weather?")}}, "", "get_weather {}"},
		{"tools without tools", engram.ModelRequest{Model: "tools", Input: []*engram.Item{user("weather?")}}, "no tools declared", ""},
		{"call directive", engram.ModelRequest{Model: "echo", Input: []*engram.Item{user(`call current_time {"timezone":"Europe/Lisbon"}`)}}, "", `current_time {"timezone":"Europe/Lisbon"}`},
		{"tool output", engram.ModelRequest{Model: "tools", Tools: tools, Input: []*engram.Item{user("w"), {Type: engram.ItemFunctionCallOutput, CallID: "c", Output: "sunny"}}}, "tool said: sunny", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var deltas strings.Builder
			var added, done int
			res, err := New().Generate(context.Background(), &tt.req, func(ev engram.ModelEvent) {
				switch ev.Type {
				case engram.ModelItemAdded:
					added++
				case engram.ModelTextDelta, engram.ModelArgumentsDelta:
					deltas.WriteString(ev.Delta)
				case engram.ModelItemDone:
					done++
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if added != 1 || done != 1 || len(res.Output) != 1 {
				t.Fatalf("added %d, done %d, output %d items; want 1 each", added, done, len(res.Output))
			}
			out := res.Output[0]
			if tt.wantText != "" {
				if got := out.Text(); got != tt.wantText || deltas.String() != tt.wantText || res.StopReason != engram.StopEnd {
					t.Errorf("text %q, deltas %q, stop %s; want %q, end", got, deltas.String(), res.StopReason, tt.wantText)
				}
			} else {
				if got := out.Name + " " + out.Arguments; got != tt.wantCall || out.CallID == "" || res.StopReason != engram.StopToolCalls {
					t.Errorf("call %q (id %q, stop %s), want %q", got, out.CallID, res.StopReason, tt.wantCall)
				}
			}
		})
	}
}

func TestUnknownModel(t *testing.T) {
	_, err := New().Generate(context.Background(), &engram.ModelRequest{Model: "nope"}, nil)
	if engram.ErrorCode(err) != engram.EInvalid {
		t.Fatalf("err = %v, want EInvalid", err)
	}
}

func TestPlanOfCalls(t *testing.T) {
	p := New()
	first := user("call a {\"x\":1}\ncall b")
	input := []*engram.Item{first}
	var said []string
	for i := 0; i < 3; i++ {
		res, err := p.Generate(context.Background(), &engram.ModelRequest{Model: "echo", Input: input}, nil)
		if err != nil {
			t.Fatal(err)
		}
		it := res.Output[0]
		if it.Type != engram.ItemFunctionCall {
			said = append(said, it.Text())
			break
		}
		said = append(said, it.Name+" "+it.Arguments)
		input = append(input, it, &engram.Item{Type: engram.ItemFunctionCallOutput, CallID: it.CallID, Output: "out-" + it.Name})
	}
	if got := strings.Join(said, "; "); got != `a {"x":1}; b {}; tools said: out-a | out-b` {
		t.Errorf("got %s", got)
	}
}
