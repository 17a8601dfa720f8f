package engram

// Guardrails filter what an agent reads and writes: Input applies to the
// user text of each response's new input before it is stored or sent to
// the model; Output applies to the model's output text before it is
// stored, streamed or returned.
type Guardrails struct {
	Input  Filters `json:"input"`
	Output Filters `json:"output"`
}

// Filters rewrite text with redactions, in order, and refuse text holding
// a blocked term: a case-insensitive whole word or phrase (the words of a
// phrase separated by any white space).
type Filters struct {
	Redact []Redaction `json:"redact,omitempty"`
	Block  []string    `json:"block,omitempty"`
}

// Empty reports whether the filters do nothing.
func (f Filters) Empty() bool { return len(f.Redact) == 0 && len(f.Block) == 0 }

// Redaction replaces what a built-in detector or a pattern matches.
// Builtin is one of RedactionBuiltins; Pattern is an RE2 regular
// expression (https://github.com/google/re2/wiki/Syntax). Name labels a
// pattern's replacement; Replacement defaults to "[REDACTED:<builtin or
// name>]" ("[REDACTED]" for an unnamed pattern).
type Redaction struct {
	Builtin     string `json:"builtin,omitempty"`
	Pattern     string `json:"pattern,omitempty"`
	Name        string `json:"name,omitempty"`
	Replacement string `json:"replacement,omitempty"`
}

// RedactionBuiltins are the built-in detectors.
var RedactionBuiltins = []string{"email", "phone", "credit_card", "iban", "us_ssn", "ipv4", "api_key"}

// ReasonContentFilter is the incomplete_details.reason of a response whose
// output held a blocked term, and the error code of input refused for one.
const ReasonContentFilter = "content_filter"
