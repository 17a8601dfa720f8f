package policy

import (
	"encoding/json"
	"testing"

	"github.com/cedar-policy/cedar-go"

	"github.com/engram-run/engram"
)

// FuzzArgsRecord: any bytes the model sends as arguments convert without
// panicking, to a record, and an object's members all arrive (bar nulls)
// without Cedar's escapes ever being read.
func FuzzArgsRecord(f *testing.F) {
	for _, s := range []string{`{}`, `null`, `[1,2]`, `{"a":{"__entity":{"type":"Engram::User","id":"x"}}}`, `{"n":1.5,"b":12345678901234567890,"z":null}`,
		`{"__extn":{"fn":"ip","arg":"10.0.0.1"}}`, `{"s":["a","a",{"x":true}]}`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		rec := argsRecord(raw)
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil {
			return
		}
		for k, v := range m {
			got, ok := rec.Get(cedar.String(k))
			if string(v) == "null" {
				if ok {
					t.Fatalf("null member %q arrived as %v", k, got)
				}
				continue
			}
			if !ok {
				t.Fatalf("member %q of %s is missing", k, raw)
			}
			if _, isEntity := got.(cedar.EntityUID); isEntity {
				t.Fatalf("member %q became an entity reference", k)
			}
		}
	})
}

// FuzzCheck: any policy text is accepted or refused with an EInvalid on
// param policy, never a panic; what Check accepts compiles and decides.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{DefaultText, `forbid (principal, action == Engram::Action::"x", resource) when { context.args.a like "*" };`,
		`@ask("y") permit (principal in Engram::User::"u", action in [Engram::Action::"a"], resource is Engram::Tool);`, `permit (`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		err := Check("fuzz", text)
		if err != nil {
			if engram.ErrorCode(err) != engram.EInvalid {
				t.Fatalf("Check(%q) = %v, want EInvalid", text, err)
			}
			return
		}
		d := Compile([]*engram.Policy{{Name: "fuzz", Text: text}}).Decide(&engram.ToolRequest{Tool: "x", Arguments: json.RawMessage(`{"a":"b"}`)})
		switch d.Effect {
		case engram.DecisionAllow, engram.DecisionDeny, engram.DecisionAsk:
		default:
			t.Fatalf("effect %q", d.Effect)
		}
	})
}
