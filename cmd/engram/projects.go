package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
)

// projectView is what the projects command reads of a project.
type projectView struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Operator  bool   `json:"operator"`
	CreatedAt int64  `json:"created_at"`
	Retention struct {
		ConversationsDays int `json:"conversations_days"`
		ResponsesDays     int `json:"responses_days"`
		EventsDays        int `json:"events_days"`
	} `json:"retention"`
	Auth struct {
		JWT *struct {
			JWKSURL   string `json:"jwks_url"`
			Issuer    string `json:"issuer"`
			Audience  string `json:"audience"`
			UserClaim string `json:"user_claim"`
			Role      string `json:"role"`
		} `json:"jwt"`
	} `json:"auth"`
	Key *struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	} `json:"key"`
}

func runProjects(ctx context.Context, e *invocation, args []string) error {
	var name, jwksURL, issuer, audience, userClaim, role *string
	cmd := resourceCommand{name: "projects", verbs: map[string]string{
		"create":    "projects create --name NAME (operator project's admins only; prints the new project's admin key, once)",
		"list":      "projects list (every project for the operator's admins, else the key's own)",
		"show":      "projects show ID",
		"rename":    "projects rename ID --name NAME",
		"set-jwt":   "projects set-jwt ID --jwks-url URL --issuer ISS --audience AUD [--user-claim sub] [--role invoker|developer] (accept the JWTs of this identity provider)",
		"clear-jwt": "projects clear-jwt ID (accept API keys only)",
	}}
	cmd.run = func(ctx context.Context, r *resourceRun) error {
		printProject := func(raw json.RawMessage) {
			var p projectView
			json.Unmarshal(raw, &p)
			r.show(raw, func() {
				operator := ""
				if p.Operator {
					operator = " (operator project)"
				}
				fmt.Fprintf(r.e.stdout, "%s (%s)%s, created %s\n", p.Name, p.ID, operator, when(p.CreatedAt))
				fmt.Fprintf(r.e.stdout, "  retention (days, 0 keeps for ever): conversations %d, responses %d, events %d\n",
					p.Retention.ConversationsDays, p.Retention.ResponsesDays, p.Retention.EventsDays)
				if j := p.Auth.JWT; j != nil {
					fmt.Fprintf(r.e.stdout, "  JWT: issuer %s, audience %s, user claim %s, role %s\n    keys from %s\n", j.Issuer, j.Audience, j.UserClaim, j.Role, j.JWKSURL)
				} else {
					fmt.Fprintln(r.e.stdout, "  JWT: off (API keys only)")
				}
				if p.Key != nil {
					fmt.Fprintf(r.e.stdout, "\nCreated its admin key %s. Its secret is shown only this once; keep it:\n\n  %s\n", p.Key.ID, p.Key.Key)
				}
			})
		}
		switch r.verb {
		case "create":
			if *name == "" {
				return fmt.Errorf("missing --name")
			}
			raw, err := r.c.do(ctx, "POST", "/v1/projects", map[string]string{"name": *name}, nil)
			if err == nil {
				printProject(raw)
			}
			return err
		case "list":
			raw, err := r.c.do(ctx, "GET", "/v1/projects", nil, nil)
			if err != nil {
				return err
			}
			var list struct{ Data []projectView }
			json.Unmarshal(raw, &list)
			r.show(raw, func() {
				var rows [][]string
				for _, p := range list.Data {
					jwt, operator := "-", ""
					if p.Auth.JWT != nil {
						jwt = p.Auth.JWT.Issuer
					}
					if p.Operator {
						operator = "yes"
					}
					rows = append(rows, []string{p.ID, p.Name, operator, jwt, when(p.CreatedAt)})
				}
				r.table("ID\tNAME\tOPERATOR\tJWT ISSUER\tCREATED", rows)
			})
			return nil
		}
		id, err := r.arg(0, "project ID")
		if err != nil {
			return err
		}
		path := "/v1/projects/" + url.PathEscape(id)
		var body any
		switch r.verb {
		case "show":
			raw, err := r.c.do(ctx, "GET", path, nil, nil)
			if err == nil {
				printProject(raw)
			}
			return err
		case "rename":
			if *name == "" {
				return fmt.Errorf("missing --name")
			}
			body = map[string]string{"name": *name}
		case "set-jwt":
			jwt := map[string]string{"jwks_url": *jwksURL, "issuer": *issuer, "audience": *audience, "user_claim": *userClaim, "role": *role}
			body = map[string]any{"auth": map[string]any{"jwt": jwt}}
		case "clear-jwt":
			body = map[string]any{"auth": map[string]any{"jwt": nil}}
		}
		raw, err := r.c.do(ctx, "POST", path, body, nil)
		if err == nil {
			printProject(raw)
		}
		return err
	}
	return cmd.main(ctx, e, args, func(fs *flag.FlagSet) {
		name = fs.String("name", "", "the project's name")
		jwksURL = fs.String("jwks-url", "", "set-jwt: URL of the identity provider's JSON Web Key Set")
		issuer = fs.String("issuer", "", "set-jwt: the tokens' exact iss")
		audience = fs.String("audience", "", "set-jwt: an aud the tokens must carry")
		userClaim = fs.String("user-claim", "sub", "set-jwt: the claim naming the end user")
		role = fs.String("role", "invoker", "set-jwt: the role tokens act with: invoker or developer (never admin)")
	})
}
