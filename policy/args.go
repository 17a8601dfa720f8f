package policy

import (
	"bytes"
	"encoding/json"

	"github.com/cedar-policy/cedar-go"
)

// argsRecord converts a tool call's JSON arguments to the Cedar record
// policies see as context.args. It never reads Cedar's JSON escapes: the
// arguments are the model's (untrusted) words, and {"__entity": …} must not
// become a reference to an entity a policy trusts. Objects become records,
// arrays sets (unordered, deduplicated: Cedar has no lists), strings,
// booleans and integers themselves; other numbers their JSON text; nulls are left out (a policy tests
// them with `has`). Arguments that are not a JSON object give an empty
// record.
func argsRecord(raw json.RawMessage) cedar.Record {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return cedar.NewRecord(nil)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return cedar.NewRecord(nil)
	}
	return cedarValue(m).(cedar.Record)
}

func cedarValue(v any) cedar.Value {
	switch x := v.(type) {
	case map[string]any:
		rm := make(cedar.RecordMap, len(x))
		for k, e := range x {
			if e != nil {
				rm[cedar.String(k)] = cedarValue(e)
			}
		}
		return cedar.NewRecord(rm)
	case []any:
		vals := make([]cedar.Value, 0, len(x))
		for _, e := range x {
			if e != nil {
				vals = append(vals, cedarValue(e))
			}
		}
		return cedar.NewSet(vals...)
	case string:
		return cedar.String(x)
	case bool:
		return cedar.Boolean(x)
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return cedar.Long(i)
		}
		// A fraction or an integer past 64 bits stays the text the model
		// wrote: Cedar's decimal holds only four places, and a policy
		// rounding an amount is worse than one comparing its text.
		return cedar.String(x.String())
	}
	return cedar.String("")
}
