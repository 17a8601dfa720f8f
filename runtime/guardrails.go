package runtime

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/tokens"
)

// builtinRedactions are the detectors a Redaction names by Builtin: a
// pattern, and a check that a match really is one (a card number's Luhn
// digit, an IBAN's checksum, a phone number's digit count).
var builtinRedactions = map[string]struct {
	re    *regexp.Regexp
	valid func(string) bool
}{
	"email": {re: regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}`)},
	// A card number: 13 to 19 digits, maybe grouped by spaces or dashes.
	"credit_card": {re: regexp.MustCompile(`\b\d(?:[ \-]?\d){12,18}\b`), valid: luhn},
	// A phone number: an optional +country code, then digits grouped by
	// spaces, dots, dashes or a parenthesised area code; 7 to 15 digits.
	"phone": {re: regexp.MustCompile(`(?:\+\d{1,3}[ .\-]?)?(?:\(\d{1,4}\)[ .\-]?)?\d{2,4}(?:[ .\-]?\d{2,4}){1,4}\b`), valid: phoneDigits},
	"iban":  {re: regexp.MustCompile(`\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b`), valid: ibanChecksum},
	"us_ssn": {re: regexp.MustCompile(`\b\d{3}-\d{2}-\d{4}\b`), valid: func(s string) bool {
		return !strings.HasPrefix(s, "000") && !strings.HasPrefix(s, "666") && s[0] != '9' && s[4:6] != "00" && s[7:] != "0000"
	}},
	"ipv4": {re: regexp.MustCompile(`\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b`)},
	// Secret keys of common shapes: OpenAI/Anthropic-style sk-…, AWS access
	// key ids, GitHub tokens, Slack tokens, Engram's own keys.
	"api_key": {re: regexp.MustCompile(`\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{16,}|\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{30,}\b|\bxox[abprs]-[A-Za-z0-9\-]{10,}`)},
}

func luhn(s string) bool {
	sum, n := 0, 0
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if c < '0' || c > '9' {
			continue
		}
		d := int(c - '0')
		if n%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		n++
	}
	return n >= 13 && sum%10 == 0
}

// dateLike is a date a phone pattern would otherwise take: 2026-05-10,
// 10.05.2026, 10-05-2026, 10/05/2026.
var dateLike = regexp.MustCompile(`^(?:\d{4}[\-./]\d{1,2}[\-./]\d{1,2}|\d{1,2}[\-./]\d{1,2}[\-./]\d{4})$`)

func phoneDigits(s string) bool {
	if dateLike.MatchString(s) {
		return false
	}
	n := 0
	for _, c := range s {
		if c >= '0' && c <= '9' {
			n++
		}
	}
	return n >= 7 && n <= 15
}

// ibanChecksum is ISO 13616's check: the rearranged number mod 97 is 1.
func ibanChecksum(s string) bool {
	s = strings.ReplaceAll(s, " ", "")
	if len(s) < 15 || len(s) > 34 {
		return false
	}
	s = s[4:] + s[:4]
	rem := 0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			rem = (rem*10 + int(c-'0')) % 97
		case c >= 'A' && c <= 'Z':
			rem = (rem*100 + int(c-'A'+10)) % 97
		default:
			return false
		}
	}
	return rem == 1
}

// filters are an engram.Filters compiled.
type filters struct {
	redact []redaction
	block  *regexp.Regexp
}

type redaction struct {
	re          *regexp.Regexp
	valid       func(string) bool
	replacement string
}

// guardrails are an agent's compiled guardrails; nil filters do nothing.
type guardrails struct {
	input, output *filters
}

// compileGuardrails checks and compiles g; errors name the field at fault.
func compileGuardrails(g *engram.Guardrails) (*guardrails, error) {
	if g == nil {
		return &guardrails{}, nil
	}
	in, err := compileFilters(g.Input, "guardrails.input")
	if err != nil {
		return nil, err
	}
	out, err := compileFilters(g.Output, "guardrails.output")
	if err != nil {
		return nil, err
	}
	return &guardrails{input: in, output: out}, nil
}

func compileFilters(f engram.Filters, param string) (*filters, error) {
	if f.Empty() {
		return nil, nil
	}
	c := &filters{}
	for i, r := range f.Redact {
		p := param + ".redact[" + strconv.Itoa(i) + "]"
		var red redaction
		name := r.Name
		switch {
		case r.Builtin != "" && r.Pattern != "":
			return nil, engram.ParamErrorf(engram.EInvalid, p, "A redaction has a 'builtin' or a 'pattern', not both.")
		case r.Builtin != "":
			b, ok := builtinRedactions[r.Builtin]
			if !ok {
				return nil, engram.ParamErrorf(engram.EInvalid, p+".builtin", "Invalid value for 'builtin': expected one of %s, but got '%s'.",
					strings.Join(engram.RedactionBuiltins, ", "), r.Builtin)
			}
			red.re, red.valid = b.re, b.valid
			if name == "" {
				name = r.Builtin
			}
		case r.Pattern != "":
			re, err := regexp.Compile(r.Pattern)
			if err != nil {
				return nil, engram.ParamErrorf(engram.EInvalid, p+".pattern", "Invalid 'pattern': not an RE2 regular expression (%v).", err)
			}
			if re.MatchString("") {
				return nil, engram.ParamErrorf(engram.EInvalid, p+".pattern", "Invalid 'pattern': it matches empty text, which would redact nothing and everything.")
			}
			red.re = re
		default:
			return nil, engram.ParamErrorf(engram.EInvalid, p, "A redaction needs a 'builtin' (%s) or a 'pattern'.", strings.Join(engram.RedactionBuiltins, ", "))
		}
		red.replacement = r.Replacement
		if red.replacement == "" {
			red.replacement = "[REDACTED]"
			if name != "" {
				red.replacement = "[REDACTED:" + name + "]"
			}
		}
		c.redact = append(c.redact, red)
	}
	if len(f.Block) > 0 {
		alts := make([]string, 0, len(f.Block))
		for i, term := range f.Block {
			words := strings.Fields(term)
			if len(words) == 0 {
				return nil, engram.ParamErrorf(engram.EInvalid, fmt.Sprintf("%s.block[%d]", param, i), "A blocked term cannot be empty.")
			}
			for j, w := range words {
				words[j] = regexp.QuoteMeta(w)
			}
			alts = append(alts, strings.Join(words, `\s+`))
		}
		// Whole words: not preceded or followed by a letter, digit or
		// underscore (\b is ASCII-only in RE2).
		c.block = regexp.MustCompile(`(?i)(?:^|[^\pL\pN_])(` + strings.Join(alts, "|") + `)(?:$|[^\pL\pN_])`)
	}
	return c, nil
}

// apply redacts text and reports a blocked term it holds ("" for none).
// Blocked terms are looked for in the text as given, so a redaction
// cannot hide one.
func (f *filters) apply(text string) (string, string) {
	if f == nil || text == "" {
		return text, ""
	}
	if f.block != nil {
		if m := f.block.FindStringSubmatch(text); m != nil {
			return text, m[1]
		}
	}
	for _, r := range f.redact {
		text = r.re.ReplaceAllStringFunc(text, func(m string) string {
			if r.valid != nil && !r.valid(m) {
				return m
			}
			return r.replacement
		})
	}
	return text, ""
}

// guardsFor returns the compiled guardrails of an agent (version), kept
// once compiled.
func (rt *Runtime) guardsFor(a *engram.Agent) *guardrails {
	if a == nil || a.Guardrails == nil {
		return &guardrails{}
	}
	key := fmt.Sprintf("%s.v%d", a.ID, a.Version)
	if g, ok := rt.guards.Load(key); ok {
		return g.(*guardrails)
	}
	g, err := compileGuardrails(a.Guardrails)
	if err != nil {
		// Validated when the agent was written; a stored agent that no
		// longer compiles filters nothing rather than failing every run.
		rt.Logger.Error("an agent's guardrails do not compile", "agent", a.ID, "version", a.Version, "err", err)
		g = &guardrails{}
	}
	rt.guards.Store(key, g)
	return g
}

// filterInput applies the agent's input filters to the user text of a
// run's new input, in place, before it is stored or sent: a blocked term
// refuses the request (nothing is stored).
func (rt *Runtime) filterInput(p *plan, input []*engram.Item) error {
	f := rt.guardsFor(p.agent).input
	if f == nil {
		return nil
	}
	for _, it := range input {
		if it.Type != engram.ItemMessage || it.Role != "user" {
			continue
		}
		changed := false
		for ci := range it.Content {
			c := &it.Content[ci]
			if c.Type != engram.ContentInputText && c.Type != engram.ContentOutputText {
				continue
			}
			text, blocked := f.apply(c.Text)
			if blocked != "" {
				return engram.ParamErrorf(engram.EInvalid, "input", "The input holds a term the agent's guardrails block (%q); nothing was stored.", blocked)
			}
			if text != c.Text {
				c.Text, changed = text, true
			}
		}
		if changed {
			it.Tokens = tokens.Item(it) // counted again, redacted
		}
	}
	return nil
}

// filterOutput applies the agent's output filters to a model call's
// output text before it is streamed, stored or returned. An item holding
// a blocked term is dropped with every item after it, and the call's stop
// reason becomes content_filter: the response ends incomplete.
func (x *run) filterOutput(res *engram.ModelResult) {
	f := x.outputFilters
	if f == nil {
		return
	}
	for i, it := range res.Output {
		if it.Type != engram.ItemMessage {
			continue
		}
		for ci := range it.Content {
			c := &it.Content[ci]
			var text, blocked string
			switch c.Type {
			case engram.ContentOutputText:
				text, blocked = f.apply(c.Text)
				c.Text = text
			case engram.ContentRefusal:
				text, blocked = f.apply(c.Refusal)
				c.Refusal = text
			}
			if blocked != "" {
				res.Output = res.Output[:i]
				res.StopReason = engram.StopContentFilter
				return
			}
		}
		it.Tokens = 0
	}
}
