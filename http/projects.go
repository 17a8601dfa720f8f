package http

import (
	"context"
	"net/http"
	"strings"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/http/openai"
)

// projectJSON is a project as the API shows it. Its auth holds no secret
// (an issuer, an audience and where its public keys are), so it is shown
// in full.
type projectJSON struct {
	Object string `json:"object"`
	*engram.Project
	// Operator marks the project whose admins manage every project.
	Operator bool `json:"operator"`
	// Key is the new project's first admin key, on creation only.
	Key *keyJSON `json:"key,omitempty"`
}

func (s *Server) encodeProject(p *engram.Project) projectJSON {
	return projectJSON{Object: "project", Project: p, Operator: p.ID == s.OperatorProject}
}

// projectBody is the JSON of POST /v1/projects and POST /v1/projects/{id}:
// the fields given change. retention changes field by field, as POST
// /v1/retention does; auth is replaced whole ({} or {"jwt": null} turns
// JWTs off).
type projectBody struct {
	Name      *string        `json:"name"`
	Retention *retentionBody `json:"retention"`
	Auth      *struct {
		JWT *engram.JWTAuth `json:"jwt"`
	} `json:"auth"`
}

// isOperator reports whether the request's key manages every project.
func (s *Server) isOperator(r *http.Request) bool {
	return s.OperatorProject != "" && keyOf(r).ProjectID == s.OperatorProject
}

// projectFor returns the project named in the path if the request's key
// may see it: its own, or any for the operator's admins. Another project
// is "not found", as if it did not exist.
func (s *Server) projectFor(r *http.Request) (*engram.Project, error) {
	id := r.PathValue("id")
	if id != keyOf(r).ProjectID && !s.isOperator(r) {
		return nil, engram.Errorf(engram.ENotFound, "No project found with id '%s'.", id)
	}
	return s.Store.GetProject(r.Context(), id)
}

// applyProject changes p by body, checking every field, and reports
// whether its auth changed.
func (s *Server) applyProject(ctx context.Context, p *engram.Project, body *projectBody) (bool, error) {
	if body.Name != nil {
		name := strings.TrimSpace(*body.Name)
		if name == "" || len(name) > 256 {
			return false, engram.ParamErrorf(engram.EInvalid, "name", "Invalid 'name': expected 1 to 256 characters.")
		}
		p.Name = name
	}
	if body.Retention != nil {
		p.Retention = body.Retention.apply(p.Retention)
		if err := p.Retention.Check("retention"); err != nil {
			return false, err
		}
	}
	if body.Auth == nil {
		return false, nil
	}
	var jwt engram.JWTAuth
	if body.Auth.JWT != nil {
		jwt = *body.Auth.JWT
		if !jwt.Enabled() {
			return false, engram.ParamErrorf(engram.EInvalid, "auth.jwt", "Invalid 'auth.jwt': give jwks_url, issuer and audience, or null to turn JWTs off.")
		}
		if err := jwt.Check("auth.jwt"); err != nil {
			return false, err
		}
		jwt = jwt.WithDefaults()
		projects, err := s.Store.ListProjects(ctx)
		if err != nil {
			return false, err
		}
		for _, other := range projects {
			if other.ID != p.ID && other.Auth.JWT.SameTokens(jwt) {
				// Each token must lead to one project, or one project's
				// users could act in another.
				return false, engram.ParamErrorf(engram.EConflict, "auth.jwt.audience",
					"Another project already accepts the tokens of this issuer and audience; give this project its own audience.")
			}
		}
	}
	changed := p.Auth.JWT != jwt
	p.Auth.JWT = jwt
	return changed, nil
}

func (s *Server) createProject(w http.ResponseWriter, r *http.Request) {
	if !s.isOperator(r) {
		s.fail(w, r, engram.Errorf(engram.EForbidden, "Only admin keys of the operator project may create projects."))
		return
	}
	var body projectBody
	if err := s.decodeBody(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	if body.Name == nil {
		s.fail(w, r, engram.ParamErrorf(engram.EInvalid, "name", "Missing required parameter: 'name'."))
		return
	}
	p := &engram.Project{ID: engram.NewID("proj"), CreatedAt: engram.Now()}
	authChanged, err := s.applyProject(r.Context(), p, &body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	secret, shown := engram.NewKeySecret()
	k := &engram.APIKey{ID: engram.NewID("key"), Name: "admin (created with the project)", Prefix: shown,
		Hash: engram.HashKey(secret), Role: engram.RoleAdmin, CreatedAt: p.CreatedAt}
	if err := s.Store.CreateProjectWithKey(r.Context(), p, k); err != nil {
		s.fail(w, r, err)
		return
	}
	if authChanged && s.Tokens != nil {
		s.Tokens.ProjectsChanged()
	}
	out := s.encodeProject(p)
	out.Key = &keyJSON{Object: "api_key", APIKey: k, Key: secret}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request) {
	var projects []*engram.Project
	if s.isOperator(r) {
		var err error
		if projects, err = s.Store.ListProjects(r.Context()); err != nil {
			s.fail(w, r, err)
			return
		}
	} else {
		p, err := s.Store.GetProject(r.Context(), keyOf(r).ProjectID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		projects = []*engram.Project{p}
	}
	out := make([]projectJSON, len(projects))
	for i, p := range projects {
		out[i] = s.encodeProject(p)
	}
	writeJSON(w, http.StatusOK, openai.NewList(out, false, func(p projectJSON) string { return p.ID }))
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request) {
	p, err := s.projectFor(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.encodeProject(p))
}

func (s *Server) updateProject(w http.ResponseWriter, r *http.Request) {
	var body projectBody
	if err := s.decodeBody(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.projectFor(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	authChanged, err := s.applyProject(r.Context(), p, &body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.Store.UpdateProject(r.Context(), p); err != nil {
		s.fail(w, r, err)
		return
	}
	if authChanged && s.Tokens != nil {
		s.Tokens.ProjectsChanged()
	}
	writeJSON(w, http.StatusOK, s.encodeProject(p))
}
