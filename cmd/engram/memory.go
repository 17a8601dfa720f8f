package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// The verbs of "engram memory", by group: records, blocks, and the rest.
var (
	memoryRecordVerbs = map[string]string{
		"list":   "memory records list [--agent NAME] [--user USER] [--kind KIND] [--all] [--limit N] (--all includes superseded records; no --agent or --user: records of no agent or no user)",
		"add":    "memory records add [--agent NAME] [--user USER] [--kind fact|preference|episode|passage] [--supersedes ID] TEXT... (TEXT - reads it from stdin)",
		"show":   "memory records show ID",
		"delete": "memory records delete ID",
	}
	memoryBlockVerbs = map[string]string{
		"list":   "memory blocks list",
		"show":   "memory blocks show ID [--versions]",
		"create": "memory blocks create --label LABEL [--limit N] [--read-only] [--description TEXT] VALUE... (VALUE - reads it from stdin)",
		"set":    "memory blocks set ID [--expect-version N] [--label L] [--limit N] [--read-only[=false]] [--description TEXT] [VALUE...] (makes a new version)",
		"delete": "memory blocks delete ID",
	}
	memoryOtherVerbs = map[string]string{
		"search":     "memory search [--agent NAME] [--user USER] [--limit N] [--mode hybrid|bm25] [--kind K[,K]] [--all] QUERY...",
		"extraction": "memory extraction CONVERSATION_ID (where memory extraction stands for the conversation)",
	}
)

func runMemory(ctx context.Context, e *invocation, args []string) error {
	usage := func() {
		fmt.Fprint(e.stderr, "Usage: engram memory <records|blocks|search|extraction> ...\n\nCommands:\n")
		for _, verbs := range []map[string]string{memoryRecordVerbs, memoryBlockVerbs, memoryOtherVerbs} {
			for _, v := range slices.Sorted(maps.Keys(verbs)) {
				fmt.Fprintf(e.stderr, "  %s\n", verbs[v])
			}
		}
		fmt.Fprint(e.stderr, "\nRun \"engram memory records -h\", \"engram memory blocks -h\" or \"engram memory search -h\" for the flags.\n")
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		usage()
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	switch args[0] {
	case "records":
		return memoryRecords(ctx, e, args[1:])
	case "blocks":
		return memoryBlocks(ctx, e, args[1:])
	case "search", "extraction":
		return memoryOther(ctx, e, args)
	}
	usage()
	return fmt.Errorf("unknown command %q for engram memory", args[0])
}

// recordView is what the memory commands show of a record.
type recordView struct {
	ID           string            `json:"id"`
	Agent        string            `json:"agent"`
	User         string            `json:"user"`
	Kind         string            `json:"kind"`
	Text         string            `json:"text"`
	Metadata     map[string]string `json:"metadata"`
	Source       string            `json:"source"`
	Conversation string            `json:"conversation"`
	Items        []string          `json:"items"`
	Supersedes   string            `json:"supersedes"`
	SupersededBy string            `json:"superseded_by"`
	OccurredAt   int64             `json:"occurred_at"`
	CreatedAt    int64             `json:"created_at"`
	Score        *float64          `json:"score"`
}

// joinedText is the text of positional arguments from i on, joined by
// spaces; a lone "-" reads it from stdin.
func (r *resourceRun) joinedText(i int, name string) (string, error) {
	if i >= len(r.args) {
		return "", fmt.Errorf("missing %s", name)
	}
	if len(r.args) == i+1 && r.args[i] == "-" {
		data, err := io.ReadAll(r.e.stdin)
		return strings.TrimRight(string(data), "\n"), err
	}
	return strings.Join(r.args[i:], " "), nil
}

// clip shortens text to n characters on one line, for tables.
func clip(text string, n int) string {
	text = strings.Join(strings.Fields(text), " ")
	if utf8.RuneCountInString(text) <= n {
		return text
	}
	runes := []rune(text)
	return string(runes[:n-1]) + "…"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// day is a Unix time as a calendar day (UTC), as the memory tools show it.
func day(unix int64) string {
	if unix == 0 {
		return "-"
	}
	return time.Unix(unix, 0).UTC().Format("2006-01-02")
}

func (r *resourceRun) printRecord(raw json.RawMessage) {
	var m recordView
	json.Unmarshal(raw, &m)
	r.show(raw, func() {
		w := r.e.stdout
		fmt.Fprintf(w, "%s (%s, from %s)\n", m.ID, m.Kind, m.Source)
		fmt.Fprintf(w, "  agent: %s  user: %s\n", orDash(m.Agent), orDash(m.User))
		fmt.Fprintf(w, "  occurred: %s  created: %s\n", when(m.OccurredAt), when(m.CreatedAt))
		if m.Supersedes != "" {
			fmt.Fprintf(w, "  supersedes: %s\n", m.Supersedes)
		}
		if m.SupersededBy != "" {
			fmt.Fprintf(w, "  superseded by: %s\n", m.SupersededBy)
		}
		if m.Conversation != "" {
			fmt.Fprintf(w, "  evidence: %s %s\n", m.Conversation, strings.Join(m.Items, " "))
		}
		for _, k := range slices.Sorted(maps.Keys(m.Metadata)) {
			fmt.Fprintf(w, "  metadata %s: %s\n", k, m.Metadata[k])
		}
		fmt.Fprintf(w, "  text:\n    %s\n", strings.ReplaceAll(m.Text, "\n", "\n    "))
	})
}

func memoryRecords(ctx context.Context, e *invocation, args []string) error {
	var agent, user, kind, supersedes *string
	var all *bool
	var limit *int
	cmd := resourceCommand{name: "memory records", verbs: memoryRecordVerbs}
	cmd.run = func(ctx context.Context, r *resourceRun) error {
		switch r.verb {
		case "list":
			q := url.Values{"limit": {strconv.Itoa(*limit)}}
			for k, v := range map[string]string{"agent": *agent, "user": *user, "kind": *kind} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if *all {
				q.Set("include_superseded", "true")
			}
			var list struct{ Data []recordView }
			raw, err := r.c.do(ctx, "GET", "/v1/memory/records?"+q.Encode(), nil, &list)
			if err != nil {
				return err
			}
			r.show(raw, func() {
				header := "ID\tKIND\tOCCURRED\tSOURCE\tTEXT"
				if *all {
					header = "ID\tKIND\tOCCURRED\tSOURCE\tSUPERSEDED BY\tTEXT"
				}
				var rows [][]string
				for _, m := range list.Data {
					row := []string{m.ID, m.Kind, day(m.OccurredAt), m.Source}
					if *all {
						row = append(row, orDash(m.SupersededBy))
					}
					rows = append(rows, append(row, clip(m.Text, 80)))
				}
				r.table(header, rows)
			})
			return nil
		case "add":
			text, err := r.joinedText(0, "TEXT")
			if err != nil {
				return err
			}
			body := map[string]string{"text": text, "agent": *agent, "user": *user, "kind": *kind, "supersedes": *supersedes}
			for k, v := range body {
				if v == "" {
					delete(body, k)
				}
			}
			raw, err := r.c.do(ctx, "POST", "/v1/memory/records", body, nil)
			if err == nil {
				r.printRecord(raw)
			}
			return err
		}
		id, err := r.arg(0, "record ID")
		if err != nil {
			return err
		}
		path := "/v1/memory/records/" + url.PathEscape(id)
		if r.verb == "delete" {
			raw, err := r.c.do(ctx, "DELETE", path, nil, nil)
			if err == nil {
				r.show(raw, func() { fmt.Fprintf(r.e.stdout, "deleted memory record %s\n", id) })
			}
			return err
		}
		raw, err := r.c.do(ctx, "GET", path, nil, nil)
		if err == nil {
			r.printRecord(raw)
		}
		return err
	}
	return cmd.main(ctx, e, args, func(fs *flag.FlagSet) {
		agent = fs.String("agent", "", "the agent (name or id) whose memory it is")
		user = fs.String("user", "", "the end user whose memory it is")
		kind = fs.String("kind", "", "fact, preference, episode or passage (add: default fact; list: only this kind)")
		supersedes = fs.String("supersedes", "", "add: the id of the record this one corrects")
		all = fs.Bool("all", false, "list: include superseded records")
		limit = fs.Int("limit", 20, "list: how many to list (1-100)")
	})
}

func memoryOther(ctx context.Context, e *invocation, args []string) error {
	var agent, user, mode, kinds *string
	var all *bool
	var limit *int
	cmd := resourceCommand{name: "memory", verbs: memoryOtherVerbs}
	cmd.run = func(ctx context.Context, r *resourceRun) error {
		if r.verb == "extraction" {
			id, err := r.arg(0, "conversation ID")
			if err != nil {
				return err
			}
			var x struct {
				Conversation string `json:"conversation"`
				Agent        string `json:"agent"`
				User         string `json:"user"`
				Status       string `json:"status"`
				ThroughSeq   int64  `json:"through_seq"`
				LastSeq      int64  `json:"last_seq"`
				PendingTurns int    `json:"pending_turns"`
				DueAt        int64  `json:"due_at"`
				Records      int    `json:"records"`
				Passes       int    `json:"passes"`
				Failures     int    `json:"failures"`
				LastError    string `json:"last_error"`
				UpdatedAt    int64  `json:"updated_at"`
			}
			raw, err := r.c.do(ctx, "GET", "/v1/conversations/"+url.PathEscape(id)+"/extraction", nil, &x)
			if err != nil {
				return err
			}
			r.show(raw, func() {
				w := r.e.stdout
				fmt.Fprintf(w, "%s: extraction %s\n", x.Conversation, x.Status)
				if x.Status == "off" {
					fmt.Fprintln(w, "  its agent does not extract memory (memory.extraction), or it has had no turn since it started to")
					return
				}
				fmt.Fprintf(w, "  agent: %s  user: %s\n", orDash(x.Agent), orDash(x.User))
				fmt.Fprintf(w, "  extracted through item seq %d of %d; %d turns pending\n", x.ThroughSeq, x.LastSeq, x.PendingTurns)
				if x.DueAt != 0 {
					fmt.Fprintf(w, "  next pass due: %s\n", time.Unix(x.DueAt, 0).UTC().Format("2006-01-02 15:04:05"))
				}
				fmt.Fprintf(w, "  records written: %d in %d passes\n", x.Records, x.Passes)
				if x.Failures > 0 || x.LastError != "" {
					fmt.Fprintf(w, "  failures in a row: %d; last error: %s\n", x.Failures, x.LastError)
				}
				fmt.Fprintf(w, "  updated: %s\n", when(x.UpdatedAt))
			})
			return nil
		}
		query, err := r.joinedText(0, "QUERY")
		if err != nil {
			return err
		}
		body := map[string]any{"query": query, "limit": *limit}
		for k, v := range map[string]string{"agent": *agent, "user": *user, "mode": *mode} {
			if v != "" {
				body[k] = v
			}
		}
		if *kinds != "" {
			body["kinds"] = strings.Split(*kinds, ",")
		}
		if *all {
			body["include_superseded"] = true
		}
		var list struct{ Data []recordView }
		raw, err := r.c.do(ctx, "POST", "/v1/memory/records/search", body, &list)
		if err != nil {
			return err
		}
		r.show(raw, func() {
			var rows [][]string
			for _, m := range list.Data {
				score := "-"
				if m.Score != nil {
					score = strconv.FormatFloat(*m.Score, 'f', 3, 64)
				}
				rows = append(rows, []string{score, m.ID, m.Kind, day(m.OccurredAt), clip(m.Text, 80)})
			}
			r.table("SCORE\tID\tKIND\tOCCURRED\tTEXT", rows)
		})
		return nil
	}
	return cmd.main(ctx, e, args, func(fs *flag.FlagSet) {
		agent = fs.String("agent", "", "search: the agent (name or id) whose memory to search")
		user = fs.String("user", "", "search: the end user whose memory to search")
		mode = fs.String("mode", "", "search: hybrid (the server's default) or bm25")
		kinds = fs.String("kind", "", "search: only records of these kinds, comma-separated")
		all = fs.Bool("all", false, "search: include superseded records")
		limit = fs.Int("limit", 10, "search: how many results (1-100)")
	})
}

// blockView is what the memory commands show of a block or a version.
type blockView struct {
	ID           string            `json:"id"`
	Label        string            `json:"label"`
	Description  string            `json:"description"`
	Value        string            `json:"value"`
	Limit        int               `json:"limit"`
	ReadOnly     bool              `json:"read_only"`
	Version      int               `json:"version"`
	Metadata     map[string]string `json:"metadata"`
	EditedBy     string            `json:"edited_by"`
	Conversation string            `json:"conversation"`
	Response     string            `json:"response"`
	CallID       string            `json:"call_id"`
	CreatedAt    int64             `json:"created_at"`
	UpdatedAt    int64             `json:"updated_at"`
}

// editor says who made a block version.
func (b blockView) editor() string {
	if b.EditedBy != "agent" {
		return b.EditedBy
	}
	return strings.TrimSpace(fmt.Sprintf("agent %s %s %s", b.Conversation, b.Response, b.CallID))
}

func memoryBlocks(ctx context.Context, e *invocation, args []string) error {
	var label, description *string
	var limit, expect *int
	var readOnly, versions *bool
	cmd := resourceCommand{name: "memory blocks", verbs: memoryBlockVerbs}
	cmd.run = func(ctx context.Context, r *resourceRun) error {
		printBlock := func(raw json.RawMessage) {
			var b blockView
			json.Unmarshal(raw, &b)
			r.show(raw, func() {
				w := r.e.stdout
				ro := ""
				if b.ReadOnly {
					ro = ", read-only"
				}
				fmt.Fprintf(w, "%s (%s) version %d, %d/%d characters%s\n", b.Label, b.ID, b.Version, utf8.RuneCountInString(b.Value), b.Limit, ro)
				if b.Description != "" {
					fmt.Fprintf(w, "  description: %s\n", b.Description)
				}
				fmt.Fprintf(w, "  edited by: %s  updated: %s\n", b.editor(), when(b.UpdatedAt))
				for _, k := range slices.Sorted(maps.Keys(b.Metadata)) {
					fmt.Fprintf(w, "  metadata %s: %s\n", k, b.Metadata[k])
				}
				fmt.Fprintf(w, "  value:\n    %s\n", strings.ReplaceAll(b.Value, "\n", "\n    "))
			})
		}
		switch r.verb {
		case "list":
			var list struct {
				Data    []blockView
				HasMore bool `json:"has_more"`
			}
			raw, err := r.c.do(ctx, "GET", "/v1/memory/blocks?limit=100", nil, &list)
			if err != nil {
				return err
			}
			r.show(raw, func() {
				var rows [][]string
				for _, b := range list.Data {
					ro := "no"
					if b.ReadOnly {
						ro = "yes"
					}
					rows = append(rows, []string{b.ID, b.Label, strconv.Itoa(b.Version),
						fmt.Sprintf("%d/%d", utf8.RuneCountInString(b.Value), b.Limit), ro, when(b.UpdatedAt), clip(b.Value, 60)})
				}
				r.table("ID\tLABEL\tVERSION\tSIZE\tREAD-ONLY\tUPDATED\tVALUE", rows)
				if list.HasMore {
					fmt.Fprintln(r.e.stdout, "(more blocks not shown; --json with the API's paging lists them all)")
				}
			})
			return nil
		}
		// The fields of create and set: those whose flags were given, and
		// the value from the positional arguments.
		body := map[string]any{}
		set := map[string]bool{}
		r.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if set["label"] {
			body["label"] = *label
		}
		if set["description"] {
			body["description"] = *description
		}
		if set["limit"] {
			body["limit"] = *limit
		}
		if set["read-only"] {
			body["read_only"] = *readOnly
		}
		if r.verb == "create" {
			value, err := r.joinedText(0, "VALUE")
			if err != nil {
				return err
			}
			body["value"] = value
			raw, err := r.c.do(ctx, "POST", "/v1/memory/blocks", body, nil)
			if err == nil {
				printBlock(raw)
			}
			return err
		}
		id, err := r.arg(0, "block ID")
		if err != nil {
			return err
		}
		path := "/v1/memory/blocks/" + url.PathEscape(id)
		switch r.verb {
		case "show":
			raw, err := r.c.do(ctx, "GET", path, nil, nil)
			if err != nil || !*versions {
				if err == nil {
					printBlock(raw)
				}
				return err
			}
			var list struct{ Data []blockView }
			rawVersions, err := r.c.do(ctx, "GET", path+"/versions", nil, &list)
			if err != nil {
				return err
			}
			if r.asJSON {
				printJSON(r.e.stdout, json.RawMessage(fmt.Sprintf(`{"block":%s,"versions":%s}`, raw, rawVersions)))
				return nil
			}
			printBlock(raw)
			fmt.Fprintln(r.e.stdout)
			var rows [][]string
			for _, b := range list.Data {
				rows = append(rows, []string{strconv.Itoa(b.Version), when(b.UpdatedAt), b.editor(), clip(b.Value, 60)})
			}
			r.table("VERSION\tMADE\tEDITED BY\tVALUE", rows)
			return nil
		case "set":
			if len(r.args) > 1 {
				value, err := r.joinedText(1, "VALUE")
				if err != nil {
					return err
				}
				body["value"] = value
			}
			if len(body) == 0 {
				return errors.New("nothing to set: give a VALUE or a flag such as --label")
			}
			if set["expect-version"] {
				body["expected_version"] = *expect
			}
			raw, err := r.c.do(ctx, "POST", path, body, nil)
			if err == nil {
				printBlock(raw)
			}
			return err
		}
		raw, err := r.c.do(ctx, "DELETE", path, nil, nil)
		if err == nil {
			r.show(raw, func() { fmt.Fprintf(r.e.stdout, "deleted memory block %s\n", id) })
		}
		return err
	}
	return cmd.main(ctx, e, args, func(fs *flag.FlagSet) {
		label = fs.String("label", "", "the block's label: lower-case letters, digits, '_' or '-'")
		description = fs.String("description", "", "a description shown to the model with the block")
		limit = fs.Int("limit", 0, "the block's size limit in characters (server default 2000, at most 20000)")
		readOnly = fs.Bool("read-only", false, "agents may not edit the block")
		expect = fs.Int("expect-version", 0, "set: apply only if the block is still at this version (else 409)")
		versions = fs.Bool("versions", false, "show: also list every version")
	})
}

// runUsage prints token usage totals: "engram usage".
func runUsage(ctx context.Context, e *invocation, args []string) error {
	fs := flag.NewFlagSet("usage", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	baseURL, key := clientFlags(fs, e)
	asJSON := fs.Bool("json", false, "print the server's JSON")
	by := fs.String("by", "project", "group by project, agent, conversation, user or model")
	agent := fs.String("agent", "", "only this agent's usage (name or id)")
	user := fs.String("user", "", "only this end user's usage")
	conversation := fs.String("conversation", "", "only this conversation's usage")
	since := fs.String("since", "", "only the usage of this long ago until now, e.g. 90m, 24h or 7d")
	limit := fs.Int("limit", 0, "at most this many groups, biggest first (server default 100, at most 1000)")
	fs.Usage = func() {
		fmt.Fprint(e.stderr, `Usage: engram usage [--by project|agent|conversation|user|model] [--agent NAME] [--user USER] [--conversation ID] [--since DURATION]

Token usage totals: model calls, input, cached and output tokens, what a
stateless client re-sending the whole history would have sent, and the share
of that input keeping state saved.

Flags:
`)
		fs.PrintDefaults()
	}
	if positional, done, err := parseFlags(fs, args); done {
		return err
	} else if len(positional) > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected argument %q", positional[0])
	}
	q := url.Values{"group_by": {*by}}
	for k, v := range map[string]string{"agent": *agent, "user": *user, "conversation": *conversation} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if *since != "" {
		d, err := parseSince(*since)
		if err != nil {
			return err
		}
		q.Set("from", strconv.FormatInt(time.Now().Add(-d).Unix(), 10))
	}
	if *limit != 0 {
		q.Set("limit", strconv.Itoa(*limit))
	}
	c, err := newClient(*baseURL, *key)
	if err != nil {
		return err
	}
	var list struct {
		Data []struct {
			Group                string  `json:"group"`
			ModelCalls           int     `json:"model_calls"`
			Responses            int     `json:"responses"`
			InputTokens          int     `json:"input_tokens"`
			CachedTokens         int     `json:"cached_tokens"`
			OutputTokens         int     `json:"output_tokens"`
			StatelessInputTokens int     `json:"stateless_input_tokens"`
			SavedRatio           float64 `json:"saved_ratio"`
			Estimated            bool    `json:"estimated"`
		}
	}
	raw, err := c.do(ctx, "GET", "/v1/usage?"+q.Encode(), nil, &list)
	if err != nil {
		return err
	}
	if *asJSON {
		printJSON(e.stdout, raw)
		return nil
	}
	// Agents are grouped by id; show their names too.
	names := map[string]string{}
	if *by == "agent" {
		var agents struct{ Data []struct{ ID, Name string } }
		if _, err := c.do(ctx, "GET", "/v1/agents?limit=100", nil, &agents); err == nil {
			for _, a := range agents.Data {
				names[a.ID] = a.Name
			}
		}
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(*by)+"\tCALLS\tINPUT\tCACHED\tOUTPUT\tSTATELESS INPUT\tSAVED")
	estimated := false
	for _, t := range list.Data {
		group := t.Group
		switch {
		case *by == "project":
			group = "this project"
		case group == "":
			group = "(none)"
		case names[group] != "":
			group = names[group] + " (" + group + ")"
		}
		saved := "-"
		if t.StatelessInputTokens > 0 {
			saved = strconv.FormatFloat(100*t.SavedRatio, 'f', 1, 64) + "%"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\n", group, t.ModelCalls, t.InputTokens, t.CachedTokens, t.OutputTokens, t.StatelessInputTokens, saved)
		estimated = estimated || t.Estimated
	}
	tw.Flush()
	if len(list.Data) == 0 {
		fmt.Fprintln(e.stderr, "(no usage)")
	}
	if estimated {
		fmt.Fprintln(e.stderr, "(some counts are estimates: their provider reported none)")
	}
	return nil
}

// parseSince reads a duration such as 90m, 24h or 7d (days are 24h).
func parseSince(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseFloat(n, 64)
		if err == nil && days > 0 {
			return time.Duration(days * float64(24*time.Hour)), nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d, nil
	}
	return 0, fmt.Errorf("invalid --since %q: expected a duration such as 90m, 24h or 7d", s)
}
