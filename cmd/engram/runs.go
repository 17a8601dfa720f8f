package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"strings"
)

// runView is what the runs commands show of a response.
type runView struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	Model     string `json:"model"`
	CreatedAt int64  `json:"created_at"`
	Output    []struct {
		ID, Type, Name, Arguments, Reason string
	} `json:"output"`
	Conversation *struct{ ID string } `json:"conversation"`
}

func runRuns(ctx context.Context, e *invocation, args []string) error {
	var status, reason *string
	var limit *int
	var reject *bool
	var after *int64
	cmd := resourceCommand{name: "runs", verbs: map[string]string{
		"list":    "runs list [--status queued|in_progress|requires_action|completed|failed|cancelled|incomplete] [--limit N]",
		"show":    "runs show ID (the run and its journal of steps)",
		"watch":   "runs watch ID [--after N] (follow its stream events live; --after resumes after sequence number N)",
		"cancel":  "runs cancel ID",
		"approve": "runs approve ID APPROVAL_REQUEST_ID [--reject] [--reason TEXT]",
	}}
	cmd.run = func(ctx context.Context, r *resourceRun) error {
		if r.verb == "list" {
			q := url.Values{"limit": {fmt.Sprint(*limit)}}
			if *status != "" {
				q.Set("status", *status)
			}
			raw, err := r.c.do(ctx, "GET", "/v1/responses?"+q.Encode(), nil, nil)
			if err != nil {
				return err
			}
			var list struct{ Data []runView }
			json.Unmarshal(raw, &list)
			r.show(raw, func() {
				var rows [][]string
				for _, v := range list.Data {
					conv := "-"
					if v.Conversation != nil {
						conv = v.Conversation.ID
					}
					rows = append(rows, []string{v.ID, v.Status, when(v.CreatedAt), v.Model, conv})
				}
				r.table("ID\tSTATUS\tCREATED\tMODEL\tCONVERSATION", rows)
			})
			return nil
		}
		id, err := r.arg(0, "response ID")
		if err != nil {
			return err
		}
		path := "/v1/responses/" + url.PathEscape(id)
		switch r.verb {
		case "show":
			var v runView
			raw, err := r.c.do(ctx, "GET", path, nil, &v)
			if err != nil {
				return err
			}
			var steps struct {
				Data []struct {
					N              int    `json:"step"`
					Kind           string `json:"kind"`
					Status         string `json:"status"`
					Name           string `json:"name"`
					IdempotencyKey string `json:"idempotency_key"`
				}
			}
			rawSteps, err := r.c.do(ctx, "GET", path+"/steps", nil, &steps)
			if err != nil {
				return err
			}
			if r.asJSON {
				printJSON(r.e.stdout, json.RawMessage(fmt.Sprintf(`{"response":%s,"steps":%s}`, raw, rawSteps)))
				return nil
			}
			fmt.Fprintf(r.e.stdout, "%s  %s  %s\n", v.ID, v.Status, v.Model)
			for _, it := range v.Output {
				if it.Type == "mcp_approval_request" {
					fmt.Fprintf(r.e.stdout, "waiting for approval %s: %s %s %s\n", it.ID, it.Name, it.Arguments, it.Reason)
				}
			}
			var rows [][]string
			for _, s := range steps.Data {
				rows = append(rows, []string{fmt.Sprint(s.N), s.Kind, s.Status, s.Name, s.IdempotencyKey})
			}
			r.table("STEP\tKIND\tSTATUS\tTOOL\tIDEMPOTENCY KEY", rows)
			return nil
		case "watch":
			// A run that stops for a person ends its stream; once answered
			// it goes on, and so does the watch.
			last := *after
			for {
				lastType, err := r.watch(ctx, path, &last)
				if err != nil || lastType != "response.requires_action" {
					return err
				}
				var v runView
				if _, err := r.c.do(ctx, "GET", path, nil, &v); err != nil || v.Status == "requires_action" {
					return err
				}
			}
		case "cancel":
			var v runView
			raw, err := r.c.do(ctx, "POST", path+"/cancel", nil, &v)
			if err == nil {
				r.show(raw, func() { fmt.Fprintf(r.e.stdout, "%s is %s\n", v.ID, v.Status) })
			}
			return err
		case "approve":
			request, err := r.arg(1, "approval request ID")
			if err != nil {
				return err
			}
			var v runView
			raw, err := r.c.do(ctx, "POST", path+"/approvals", map[string]any{"approval_request_id": request, "approve": !*reject, "reason": *reason}, &v)
			if err == nil {
				r.show(raw, func() { fmt.Fprintf(r.e.stdout, "%s is %s\n", v.ID, v.Status) })
			}
			return err
		}
		return nil
	}
	return cmd.main(ctx, e, args, func(fs *flag.FlagSet) {
		status = fs.String("status", "", "only runs with this status")
		limit = fs.Int("limit", 20, "how many runs to list")
		reject = fs.Bool("reject", false, "reject instead of approve")
		reason = fs.String("reason", "", "why (reaches the model on a rejection)")
		after = fs.Int64("after", -1, "resume the stream after this sequence number")
	})
}

// watch prints a run's stream events after *last, advancing it, and
// returns the type of the last event.
func (r *resourceRun) watch(ctx context.Context, path string, last *int64) (string, error) {
	resp, err := r.c.request(ctx, "GET", fmt.Sprintf("%s?stream=true&starting_after=%d", path, *last), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	lastType := ""
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var ev struct {
			Type     string `json:"type"`
			Seq      int64  `json:"sequence_number"`
			Delta    string `json:"delta"`
			Response *struct {
				Status string `json:"status"`
			} `json:"response"`
		}
		json.Unmarshal([]byte(data), &ev)
		*last, lastType = ev.Seq, ev.Type
		switch {
		case r.asJSON:
			fmt.Fprintln(r.e.stdout, data)
		case ev.Delta != "":
			fmt.Fprint(r.e.stdout, ev.Delta)
		case ev.Response != nil:
			fmt.Fprintf(r.e.stdout, "\n[%d] %s (%s)\n", ev.Seq, ev.Type, ev.Response.Status)
		default:
			fmt.Fprintf(r.e.stdout, "\n[%d] %s", ev.Seq, ev.Type)
		}
	}
	return lastType, sc.Err()
}
