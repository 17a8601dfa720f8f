package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/policy"
)

// policyFile is one file of Cedar policies: one named policy, named after
// the file (hives.cedar is the policy "hives").
type policyFile struct {
	path, name, text string
}

// readPolicyFiles reads and checks files offline: every fault of every
// file is printed, and the error says how many files failed.
func readPolicyFiles(e *invocation, paths []string) ([]policyFile, error) {
	if len(paths) == 0 {
		return nil, errors.New("name one or more policy files (FILE.cedar: one policy, named after the file)")
	}
	var files []policyFile
	bad := 0
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		data, err := os.ReadFile(path)
		if err == nil && !policy.NamePattern.MatchString(name) {
			err = fmt.Errorf("the file's name %q cannot name a policy: use 1-64 letters, digits, '.', '_' or '-'", name)
		}
		if err == nil && name == policy.DefaultName {
			err = fmt.Errorf("%q is the built-in policy's name; rename the file", name)
		}
		if err == nil {
			err = policy.Check(name, string(data))
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "%s: %s\n", path, engram.ErrorMessage(err))
			bad++
			continue
		}
		files = append(files, policyFile{path, name, string(data)})
	}
	if bad > 0 {
		return nil, fmt.Errorf("%d of %d policy files are invalid", bad, len(paths))
	}
	return files, nil
}

type policyView struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Policy      string `json:"policy"`
	Description string `json:"description"`
	Default     bool   `json:"default"`
	UpdatedAt   int64  `json:"updated_at"`
}

func runPolicies(ctx context.Context, e *invocation, args []string) error {
	if len(args) > 0 && args[0] == "validate" {
		// Offline: no server, no key.
		fs := flag.NewFlagSet("policies validate", flag.ContinueOnError)
		fs.SetOutput(e.stderr)
		fs.Usage = func() {
			fmt.Fprintln(e.stderr, "Usage: engram policies validate FILE...\n\nChecks Cedar policy files offline, as the server does on write: syntax (with line and column), Engram's entity types and attributes. Each file is one policy named after the file.")
		}
		paths, done, err := parseFlags(fs, args[1:])
		if done {
			return err
		}
		files, err := readPolicyFiles(e, paths)
		for _, f := range files {
			fmt.Fprintf(e.stdout, "%s: ok (policy %s)\n", f.path, f.name)
		}
		return err
	}
	var description *string
	cmd := resourceCommand{name: "policies", verbs: map[string]string{
		"validate": "policies validate FILE...   check Cedar files offline (no server needed)",
		"apply":    "policies apply [--description TEXT] FILE...   create or replace one policy per file, named after the file",
		"list":     "policies list",
		"show":     "policies show ID|NAME",
		"delete":   "policies delete ID|NAME",
		"evaluate": "policies evaluate --tool NAME [--agent AGENT] [--user USER] [--args JSON]   decide a call without making it",
	}}
	var tool, agent, user, arguments *string
	cmd.run = func(ctx context.Context, r *resourceRun) error {
		switch r.verb {
		case "apply":
			files, err := readPolicyFiles(r.e, r.args)
			if err != nil {
				return err
			}
			for _, f := range files {
				body := map[string]string{"name": f.name, "policy": f.text}
				if *description != "" {
					body["description"] = *description
				}
				var cur policyView
				_, err := r.c.do(ctx, "GET", "/v1/policies/"+url.PathEscape(f.name), nil, &cur)
				verb, path := "created", "/v1/policies"
				var ae *apiError
				switch {
				case err == nil && !cur.Default:
					verb, path = "replaced", "/v1/policies/"+url.PathEscape(cur.ID)
				case err != nil && !(errors.As(err, &ae) && ae.Status == http.StatusNotFound):
					return err
				}
				var p policyView
				raw, err := r.c.do(ctx, "POST", path, body, &p)
				if err != nil {
					return fmt.Errorf("%s: %w", f.path, err)
				}
				r.show(raw, func() { fmt.Fprintf(r.e.stdout, "%s policy %s (%s) from %s\n", verb, p.Name, p.ID, f.path) })
			}
			return nil
		case "list":
			raw, err := r.c.do(ctx, "GET", "/v1/policies", nil, nil)
			if err != nil {
				return err
			}
			var list struct{ Data []policyView }
			json.Unmarshal(raw, &list)
			r.show(raw, func() {
				var rows [][]string
				for _, p := range list.Data {
					kind := "stored"
					if p.Default {
						kind = "built-in default"
					}
					rows = append(rows, []string{p.ID, p.Name, kind, when(p.UpdatedAt), p.Description})
				}
				r.table("ID\tNAME\tKIND\tUPDATED\tDESCRIPTION", rows)
			})
			return nil
		case "evaluate":
			body := map[string]any{"tool": *tool, "agent": *agent, "user": *user}
			if *arguments != "" {
				body["arguments"] = *arguments
			}
			var d engram.Decision
			raw, err := r.c.do(ctx, "POST", "/v1/policies/evaluate", body, &d)
			if err != nil {
				return err
			}
			r.show(raw, func() {
				fmt.Fprintf(r.e.stdout, "%s: %s\n", d.Effect, d.Reason)
				for _, e := range d.Errors {
					fmt.Fprintf(r.e.stdout, "  skipped: %s\n", e)
				}
			})
			return nil
		}
		id, err := r.arg(0, "policy ID or name")
		if err != nil {
			return err
		}
		if r.verb == "delete" {
			raw, err := r.c.do(ctx, "DELETE", "/v1/policies/"+url.PathEscape(id), nil, nil)
			if err == nil {
				r.show(raw, func() { fmt.Fprintf(r.e.stdout, "deleted policy %s\n", id) })
			}
			return err
		}
		var p policyView
		raw, err := r.c.do(ctx, "GET", "/v1/policies/"+url.PathEscape(id), nil, &p)
		if err != nil {
			return err
		}
		r.show(raw, func() {
			fmt.Fprintf(r.e.stdout, "// %s (%s)", p.Name, p.ID)
			if p.Description != "" {
				fmt.Fprintf(r.e.stdout, ": %s", p.Description)
			}
			fmt.Fprintf(r.e.stdout, "\n%s", p.Policy)
			if !strings.HasSuffix(p.Policy, "\n") {
				fmt.Fprintln(r.e.stdout)
			}
		})
		return nil
	}
	return cmd.main(ctx, e, args, func(fs *flag.FlagSet) {
		description = fs.String("description", "", "apply: the description of each policy applied")
		tool = fs.String("tool", "", "evaluate: the tool called")
		agent = fs.String("agent", "", "evaluate: the agent calling it (id or name)")
		user = fs.String("user", "", "evaluate: the end user the agent acts for")
		arguments = fs.String("args", "", "evaluate: the call's arguments, a JSON object")
	})
}
