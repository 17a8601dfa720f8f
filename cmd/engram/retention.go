package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
)

type retentionView struct {
	ConversationsDays int `json:"conversations_days"`
	ResponsesDays     int `json:"responses_days"`
	EventsDays        int `json:"events_days"`
}

func days(n int) string {
	switch n {
	case 0:
		return "kept for ever"
	case 1:
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}

// runRetention shows and sets the project's retention policy and lists
// what purges deleted: "engram retention get|set|log".
func runRetention(ctx context.Context, e *invocation, args []string) error {
	var conversations, responses, events, limit *int
	cmd := resourceCommand{name: "retention", verbs: map[string]string{
		"get": "retention get   (the project's policy; 0 days keeps for ever)",
		"set": "retention set [--conversations-days N] [--responses-days N] [--events-days N]   (admin key; the flags given change, 0 keeps for ever)",
		"log": "retention log [--limit N]   (what purges deleted, newest first)",
	}}
	cmd.run = func(ctx context.Context, r *resourceRun) error {
		printPolicy := func(raw json.RawMessage) {
			var p retentionView
			json.Unmarshal(raw, &p)
			r.show(raw, func() {
				fmt.Fprintf(r.e.stdout, "conversations: %s idle\nresponses:     %s after they end\nstream events: %s after their response ends\n",
					days(p.ConversationsDays), days(p.ResponsesDays), days(p.EventsDays))
			})
		}
		switch r.verb {
		case "get":
			raw, err := r.c.do(ctx, "GET", "/v1/retention", nil, nil)
			if err == nil {
				printPolicy(raw)
			}
			return err
		case "set":
			body := map[string]int{}
			r.fs.Visit(func(f *flag.Flag) {
				switch f.Name {
				case "conversations-days":
					body["conversations_days"] = *conversations
				case "responses-days":
					body["responses_days"] = *responses
				case "events-days":
					body["events_days"] = *events
				}
			})
			if len(body) == 0 {
				return fmt.Errorf("nothing to set: give --conversations-days, --responses-days or --events-days")
			}
			raw, err := r.c.do(ctx, "POST", "/v1/retention", body, nil)
			if err == nil {
				printPolicy(raw)
			}
			return err
		}
		q := url.Values{"limit": {fmt.Sprint(*limit)}}
		raw, err := r.c.do(ctx, "GET", "/v1/retention/log?"+q.Encode(), nil, nil)
		if err != nil {
			return err
		}
		var list struct {
			Data []struct {
				Pass, Agent, Kind string
				Cutoff            int64
				Deleted, Rows     int64
				UpdatedAt         int64 `json:"updated_at"`
			}
		}
		json.Unmarshal(raw, &list)
		r.show(raw, func() {
			var rows [][]string
			for _, l := range list.Data {
				agent := l.Agent
				if agent == "" {
					agent = "-"
				}
				rows = append(rows, []string{when(l.UpdatedAt), l.Kind, agent, fmt.Sprint(l.Deleted), fmt.Sprint(l.Rows), when(l.Cutoff), l.Pass})
			}
			r.table("AT\tKIND\tAGENT\tDELETED\tROWS\tCUTOFF\tPASS", rows)
		})
		return nil
	}
	return cmd.main(ctx, e, args, func(fs *flag.FlagSet) {
		conversations = fs.Int("conversations-days", 0, "days a conversation may stay idle before it is deleted (set)")
		responses = fs.Int("responses-days", 0, "days after it ends that a response is deleted (set)")
		events = fs.Int("events-days", 0, "days after its response ends that a stream's events are deleted (set)")
		limit = fs.Int("limit", 20, "entries to list, 1 to 100 (log)")
	})
}
