package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// resourceCommand runs "engram NOUN VERB [flags] [ARGS]": the shared shape
// of the agents, conversations and keys commands.
type resourceCommand struct {
	name  string
	verbs map[string]string // verb -> synopsis
	run   func(ctx context.Context, r *resourceRun) error
}

// resourceRun is one invocation of a resource command.
type resourceRun struct {
	e      *invocation
	c      *client
	verb   string
	args   []string
	asJSON bool
	fs     *flag.FlagSet
}

func (rc resourceCommand) main(ctx context.Context, e *invocation, args []string, addFlags func(*flag.FlagSet)) error {
	usage := func() {
		fmt.Fprintf(e.stderr, "Usage: engram %s <command> [flags]\n\nCommands:\n", rc.name)
		for _, v := range slices.Sorted(maps.Keys(rc.verbs)) {
			fmt.Fprintf(e.stderr, "  %s\n", rc.verbs[v])
		}
		fmt.Fprint(e.stderr, "\nFlags:\n")
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fs := flag.NewFlagSet(rc.name, flag.ContinueOnError)
		clientFlags(fs, e)
		fs.Bool("json", false, "print the server's JSON")
		addFlags(fs)
		fs.SetOutput(e.stderr)
		usage()
		fs.PrintDefaults()
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	verb := args[0]
	if _, ok := rc.verbs[verb]; !ok {
		usage()
		return fmt.Errorf("unknown command %q for engram %s", verb, rc.name)
	}
	fs := flag.NewFlagSet(rc.name+" "+verb, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	url, key := clientFlags(fs, e)
	asJSON := fs.Bool("json", false, "print the server's JSON")
	addFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: engram %s\n\nFlags:\n", rc.verbs[verb])
		fs.PrintDefaults()
	}
	positional, done, err := parseFlags(fs, args[1:])
	if done {
		return err
	}
	c, err := newClient(*url, *key)
	if err != nil {
		return err
	}
	return rc.run(ctx, &resourceRun{e: e, c: c, verb: verb, args: positional, asJSON: *asJSON, fs: fs})
}

// arg returns the i-th positional argument, or a usage error naming it.
func (r *resourceRun) arg(i int, name string) (string, error) {
	if i >= len(r.args) {
		return "", fmt.Errorf("missing %s", name)
	}
	return r.args[i], nil
}

// show prints raw JSON with --json, else calls human.
func (r *resourceRun) show(raw json.RawMessage, human func()) {
	if r.asJSON {
		printJSON(r.e.stdout, raw)
		return
	}
	human()
}

func (r *resourceRun) table(header string, rows [][]string) {
	tw := tabwriter.NewWriter(r.e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, row := range rows {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
}

func when(unix int64) string {
	if unix == 0 {
		return "-"
	}
	return time.Unix(unix, 0).UTC().Format("2006-01-02 15:04")
}

// readText reads a flag value; "@path" reads the file.
func readText(v string) (string, error) {
	if path, ok := strings.CutPrefix(v, "@"); ok {
		data, err := os.ReadFile(path)
		return string(data), err
	}
	return v, nil
}

type agentView struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Version      int    `json:"version"`
	Model        string `json:"model"`
	Description  string `json:"description"`
	Instructions string `json:"instructions"`
	Context      struct {
		BudgetTokens int `json:"budget_tokens"`
	} `json:"context"`
	Tools []struct {
		Type, Name string
	} `json:"tools"`
	UpdatedAt int64 `json:"updated_at"`
}

func runAgents(ctx context.Context, e *invocation, args []string) error {
	var name, model, instructions, description *string
	var budget, version *int
	cmd := resourceCommand{name: "agents", verbs: map[string]string{
		"list":     "agents list",
		"show":     "agents show NAME [--version N]",
		"create":   "agents create --name NAME --model MODEL [--instructions TEXT|@FILE] [--budget-tokens N] [--description TEXT]",
		"update":   "agents update NAME [--model M] [--instructions TEXT|@FILE] [--budget-tokens N] [--description TEXT] (makes a new version)",
		"delete":   "agents delete NAME",
		"versions": "agents versions NAME",
	}}
	cmd.run = func(ctx context.Context, r *resourceRun) error {
		body := map[string]any{}
		set := map[string]bool{}
		r.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if set["name"] {
			body["name"] = *name
		}
		if set["model"] {
			body["model"] = *model
		}
		if set["description"] {
			body["description"] = *description
		}
		if set["instructions"] {
			text, err := readText(*instructions)
			if err != nil {
				return err
			}
			body["instructions"] = text
		}
		if set["budget-tokens"] {
			body["context"] = map[string]int{"budget_tokens": *budget}
		}
		printAgent := func(raw json.RawMessage) {
			var a agentView
			json.Unmarshal(raw, &a)
			r.show(raw, func() {
				fmt.Fprintf(r.e.stdout, "%s (%s) version %d\n  model: %s\n", a.Name, a.ID, a.Version, a.Model)
				if a.Description != "" {
					fmt.Fprintf(r.e.stdout, "  description: %s\n", a.Description)
				}
				if a.Context.BudgetTokens > 0 {
					fmt.Fprintf(r.e.stdout, "  context budget: %d tokens\n", a.Context.BudgetTokens)
				}
				for _, t := range a.Tools {
					fmt.Fprintf(r.e.stdout, "  tool: %s (%s)\n", t.Name, t.Type)
				}
				if a.Instructions != "" {
					fmt.Fprintf(r.e.stdout, "  instructions:\n    %s\n", strings.ReplaceAll(a.Instructions, "\n", "\n    "))
				}
			})
		}
		printList := func(raw json.RawMessage) {
			var list struct{ Data []agentView }
			json.Unmarshal(raw, &list)
			r.show(raw, func() {
				var rows [][]string
				for _, a := range list.Data {
					rows = append(rows, []string{a.Name, fmt.Sprint(a.Version), a.Model, when(a.UpdatedAt), a.ID})
				}
				r.table("NAME\tVERSION\tMODEL\tUPDATED\tID", rows)
			})
		}
		switch r.verb {
		case "list":
			raw, err := r.c.do(ctx, "GET", "/v1/agents?limit=100", nil, nil)
			if err == nil {
				printList(raw)
			}
			return err
		case "create":
			raw, err := r.c.do(ctx, "POST", "/v1/agents", body, nil)
			if err == nil {
				printAgent(raw)
			}
			return err
		}
		ref, err := r.arg(0, "agent NAME")
		if err != nil {
			return err
		}
		path := "/v1/agents/" + url.PathEscape(ref)
		var raw json.RawMessage
		switch r.verb {
		case "show":
			if *version > 0 {
				path += fmt.Sprintf("?version=%d", *version)
			}
			if raw, err = r.c.do(ctx, "GET", path, nil, nil); err == nil {
				printAgent(raw)
			}
		case "update":
			if raw, err = r.c.do(ctx, "POST", path, body, nil); err == nil {
				printAgent(raw)
			}
		case "delete":
			if raw, err = r.c.do(ctx, "DELETE", path, nil, nil); err == nil {
				r.show(raw, func() { fmt.Fprintf(r.e.stdout, "deleted agent %s\n", ref) })
			}
		case "versions":
			if raw, err = r.c.do(ctx, "GET", path+"/versions", nil, nil); err == nil {
				printList(raw)
			}
		}
		return err
	}
	return cmd.main(ctx, e, args, func(fs *flag.FlagSet) {
		name = fs.String("name", "", "agent name")
		model = fs.String("model", "", "model as provider/model")
		instructions = fs.String("instructions", "", "instructions, or @FILE to read them from a file")
		description = fs.String("description", "", "description")
		budget = fs.Int("budget-tokens", 0, "context budget in tokens per model call")
		version = fs.Int("version", 0, "version to show (default latest)")
	})
}

func runConversations(ctx context.Context, e *invocation, args []string) error {
	var agent, user *string
	var limit *int
	cmd := resourceCommand{name: "conversations", verbs: map[string]string{
		"list":   "conversations list [--agent NAME] [--user USER] [--limit N]",
		"show":   "conversations show ID",
		"delete": "conversations delete ID",
	}}
	cmd.run = func(ctx context.Context, r *resourceRun) error {
		if r.verb == "list" {
			q := url.Values{"limit": {fmt.Sprint(*limit)}}
			if *agent != "" {
				q.Set("agent", *agent)
			}
			if *user != "" {
				q.Set("user", *user)
			}
			raw, err := r.c.do(ctx, "GET", "/v1/conversations?"+q.Encode(), nil, nil)
			if err != nil {
				return err
			}
			var list struct {
				Data []struct {
					ID, Agent, User string
					CreatedAt       int64             `json:"created_at"`
					Metadata        map[string]string `json:"metadata"`
				}
			}
			json.Unmarshal(raw, &list)
			r.show(raw, func() {
				var rows [][]string
				for _, c := range list.Data {
					meta, _ := json.Marshal(c.Metadata)
					rows = append(rows, []string{c.ID, when(c.CreatedAt), c.Agent, c.User, string(meta)})
				}
				r.table("ID\tCREATED\tAGENT\tUSER\tMETADATA", rows)
			})
			return nil
		}
		id, err := r.arg(0, "conversation ID")
		if err != nil {
			return err
		}
		path := "/v1/conversations/" + url.PathEscape(id)
		if r.verb == "delete" {
			raw, err := r.c.do(ctx, "DELETE", path, nil, nil)
			if err == nil {
				r.show(raw, func() { fmt.Fprintf(r.e.stdout, "deleted conversation %s\n", id) })
			}
			return err
		}
		// show: the whole transcript, oldest first, page by page.
		var all []json.RawMessage
		after := ""
		for {
			q := url.Values{"order": {"asc"}, "limit": {"100"}}
			if after != "" {
				q.Set("after", after)
			}
			var page struct {
				Data    []json.RawMessage `json:"data"`
				HasMore bool              `json:"has_more"`
				LastID  string            `json:"last_id"`
			}
			if _, err := r.c.do(ctx, "GET", path+"/items?"+q.Encode(), nil, &page); err != nil {
				return err
			}
			all = append(all, page.Data...)
			if !page.HasMore {
				break
			}
			after = page.LastID
		}
		raw, _ := json.Marshal(map[string]any{"object": "list", "data": all})
		r.show(raw, func() {
			for _, itRaw := range all {
				var it struct {
					Type, Role, Name, Arguments, Output string
					Content                             []struct{ Text, Refusal string }
				}
				json.Unmarshal(itRaw, &it)
				switch it.Type {
				case "message":
					var text []string
					for _, c := range it.Content {
						text = append(text, c.Text+c.Refusal)
					}
					fmt.Fprintf(r.e.stdout, "%s: %s\n", it.Role, strings.Join(text, " "))
				case "function_call":
					fmt.Fprintf(r.e.stdout, "tool call: %s %s\n", it.Name, it.Arguments)
				case "function_call_output":
					fmt.Fprintf(r.e.stdout, "tool result: %s\n", it.Output)
				default:
					fmt.Fprintf(r.e.stdout, "(%s)\n", it.Type)
				}
			}
		})
		return nil
	}
	return cmd.main(ctx, e, args, func(fs *flag.FlagSet) {
		agent = fs.String("agent", "", "only this agent's conversations")
		user = fs.String("user", "", "only this end user's conversations")
		limit = fs.Int("limit", 20, "how many to list (1-100)")
	})
}

func runKeys(ctx context.Context, e *invocation, args []string) error {
	var name, role, user *string
	cmd := resourceCommand{name: "keys", verbs: map[string]string{
		"create": "keys create --name NAME --role admin|developer|invoker [--user USER]",
		"list":   "keys list",
		"revoke": "keys revoke ID",
	}}
	cmd.run = func(ctx context.Context, r *resourceRun) error {
		switch r.verb {
		case "create":
			var k struct {
				ID, Key, Role string
			}
			raw, err := r.c.do(ctx, "POST", "/v1/keys", map[string]string{"name": *name, "role": *role, "user": *user}, &k)
			if err != nil {
				return err
			}
			r.show(raw, func() {
				fmt.Fprintf(r.e.stdout, "Created %s key %s. Its secret is shown only this once; keep it:\n\n  %s\n", k.Role, k.ID, k.Key)
			})
			return nil
		case "list":
			raw, err := r.c.do(ctx, "GET", "/v1/keys", nil, nil)
			if err != nil {
				return err
			}
			var list struct {
				Data []struct {
					ID, Name, Prefix, Role, User string
					CreatedAt                    int64 `json:"created_at"`
					RevokedAt                    int64 `json:"revoked_at"`
				}
			}
			json.Unmarshal(raw, &list)
			r.show(raw, func() {
				var rows [][]string
				for _, k := range list.Data {
					state := "active"
					if k.RevokedAt != 0 {
						state = "revoked " + when(k.RevokedAt)
					}
					rows = append(rows, []string{k.ID, k.Name, k.Prefix + "…", k.Role, k.User, when(k.CreatedAt), state})
				}
				r.table("ID\tNAME\tPREFIX\tROLE\tUSER\tCREATED\tSTATE", rows)
			})
			return nil
		}
		id, err := r.arg(0, "key ID")
		if err != nil {
			return err
		}
		raw, err := r.c.do(ctx, "DELETE", "/v1/keys/"+url.PathEscape(id), nil, nil)
		if err == nil {
			r.show(raw, func() { fmt.Fprintf(r.e.stdout, "revoked key %s\n", id) })
		}
		return err
	}
	return cmd.main(ctx, e, args, func(fs *flag.FlagSet) {
		name = fs.String("name", "", "a name to tell the key by")
		role = fs.String("role", "invoker", "admin, developer or invoker")
		user = fs.String("user", "", "bind the key to this end user")
	})
}
