package http

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/http/openai"
)

// listModels answers GET /v1/models: every model of the configured
// providers that can list theirs, as provider/model (the name to send),
// then the project's agents as agent/NAME.
func (s *Server) listModels(w http.ResponseWriter, r *http.Request) {
	if s.Providers == nil {
		s.fail(w, r, engram.Errorf(engram.EUnavailable, "No model providers are configured on this server."))
		return
	}
	models := s.providerModels(r.Context())
	agents, err := s.allAgents(r.Context(), keyOf(r).ProjectID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, a := range agents {
		models = append(models, openai.NewModel("agent/"+a.Name, a.CreatedAt, "engram"))
	}
	writeJSON(w, http.StatusOK, openai.ModelList{Object: "list", Data: models})
}

// providerModels asks every provider that can list its models, at once.
// One that fails (an upstream that is down, an Ollama that is not running)
// is left out of the list and logged: the others still answer.
func (s *Server) providerModels(ctx context.Context) []openai.Model {
	provs := s.Providers.Providers()
	found := make([][]openai.Model, len(provs))
	var wg sync.WaitGroup
	for i, p := range provs {
		lister, ok := p.(engram.ModelLister)
		if !ok {
			continue
		}
		wg.Go(func() {
			ids, err := lister.Models(ctx)
			if err != nil {
				s.Logger.Warn("listing a provider's models", "provider", p.Name(), "err", err)
				return
			}
			for _, id := range ids {
				found[i] = append(found[i], openai.NewModel(p.Name()+"/"+id, 0, p.Name()))
			}
		})
	}
	wg.Wait()
	out := []openai.Model{}
	for _, ms := range found {
		out = append(out, ms...)
	}
	return out
}

// allAgents reads every agent of the project, page by page.
func (s *Server) allAgents(ctx context.Context, projectID string) ([]*engram.Agent, error) {
	var all []*engram.Agent
	p := engram.Page{Limit: 100, Order: "asc"}
	for {
		page, more, err := s.Store.ListAgents(ctx, projectID, p)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if !more || len(page) == 0 {
			return all, nil
		}
		p.After = page[len(page)-1].ID
	}
}

// getModel answers GET /v1/models/{id}: id is provider/model, a bare name
// of a provider's family (gpt-…, claude-…) or agent/NAME, answered as
// asked. A provider that cannot list its models serves whatever name it
// is given, so its models are answered as they are named; one that lists
// must list the model.
func (s *Server) getModel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if s.Providers == nil {
		s.fail(w, r, engram.Errorf(engram.EUnavailable, "No model providers are configured on this server."))
		return
	}
	if name, ok := strings.CutPrefix(id, "agent/"); ok {
		a, err := s.Store.GetAgent(r.Context(), keyOf(r).ProjectID, name, 0)
		if err != nil {
			if engram.ErrorCode(err) == engram.ENotFound {
				err = modelNotFound(id)
			}
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, openai.NewModel("agent/"+a.Name, a.CreatedAt, "engram"))
		return
	}
	p, name, err := s.Providers.Resolve(id)
	if err != nil {
		s.fail(w, r, modelNotFound(id))
		return
	}
	if lister, ok := p.(engram.ModelLister); ok {
		ids, err := lister.Models(r.Context())
		if err != nil {
			s.fail(w, r, err) // the upstream is down: say so rather than deny the model
			return
		}
		if !slices.Contains(ids, name) {
			s.fail(w, r, modelNotFound(id))
			return
		}
	}
	writeJSON(w, http.StatusOK, openai.NewModel(id, 0, p.Name()))
}
