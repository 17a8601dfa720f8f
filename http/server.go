// Package http serves Engram's API: OpenAI's Responses and Conversations
// endpoints and Engram's own under the same /v1, with API-key auth and
// OpenAI-shaped errors. routes.go lists every route.
package http

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/http/openai"
	"github.com/engram-run/engram/provider"
	"github.com/engram-run/engram/secrets"
)

// Server is the API server.
type Server struct {
	Store     engram.Store
	Responses engram.ResponseService
	// Memory writes and searches memory records; nil answers the record
	// endpoints that need it with 503.
	Memory engram.MemoryService
	Logger *slog.Logger
	// MaxBodyBytes bounds a request body; 0 means 16 MiB.
	MaxBodyBytes int64
	// Ready reports whether the server can serve (its store answers).
	Ready func(context.Context) error
	// ValidateAgent checks that an agent can run here (its model's provider
	// is configured, its builtin tools exist) before it is stored.
	ValidateAgent func(*engram.Agent) error
	// Providers serve /v1/chat/completions directly and list /v1/models;
	// nil answers those with 503.
	Providers *provider.Registry
	// OperatorProject is the project whose admin keys manage every project
	// (the one the first start creates); "" lets no key create projects.
	OperatorProject string
	// Tokens verifies bearer tokens that are not Engram keys (the JWTs of
	// identity providers projects trust); nil accepts keys only.
	Tokens engram.TokenAuthenticator
	// Audit records every request to a route that changes state, once
	// answered (audit.go); nil records nothing.
	Audit engram.Auditor
	// Secrets seals connectors' credentials; nil refuses to store one
	// (503).
	Secrets *secrets.Box
	// Policies is told when a project's policies change, so this
	// process's next decision reads them at once; nil: decisions see a
	// change within the authorizer's cache time (a second).
	Policies interface{ Invalidate(projectID string) }
	// Prices price usage in the spend budgets show (the runtime's table);
	// nil: engram.DefaultPrices.
	Prices engram.Prices
	// BudgetsChanged is told when a project's budgets are written, so that
	// the runtime applies them from its next model call (runtime.Runtime's
	// BudgetsChanged); nil: the runtime sees them when its cache expires.
	BudgetsChanged func(projectID string)
}

// Handler returns the API's handler.
func (s *Server) Handler() http.Handler {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.MaxBodyBytes == 0 {
		s.MaxBodyBytes = 16 << 20
	}
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		var h http.Handler = rt.handler
		if rt.role != "" {
			h = s.authenticate(rt.role, isMessagesRoute(rt.pattern), h)
			if s.Audit != nil && mutating(rt.pattern) {
				h = s.audited(rt.pattern, h)
			}
		}
		mux.Handle(rt.pattern, h)
	}
	return s.withRequestID(mux)
}

// withRequestID tags every request and answer with an id, logs the
// request, and turns the mux's own 404 and 405 into OpenAI-shaped errors.
func (s *Server) withRequestID(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [12]byte
		_, _ = rand.Read(b[:])
		id := "req_" + hex.EncodeToString(b[:])
		w.Header().Set("X-Request-Id", id)
		start := time.Now()
		if _, pattern := mux.Handler(r); pattern == "" {
			s.routeMiss(w, r, mux)
		} else {
			mux.ServeHTTP(w, r)
		}
		s.Logger.Debug("request", "id", id, "method", r.Method, "path", r.URL.Path, "took", time.Since(start))
	})
}

// routeMiss answers a request no route matched: 405 when the path exists
// with another method, else 404.
func (s *Server) routeMiss(w http.ResponseWriter, r *http.Request, mux *http.ServeMux) {
	for _, m := range []string{"GET", "POST", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "" {
			writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "method_not_allowed", "", "Method "+r.Method+" is not allowed on "+r.URL.Path+".")
			return
		}
	}
	writeError(w, http.StatusNotFound, "invalid_request_error", "unknown_url", "", "Invalid URL ("+r.Method+" "+r.URL.Path+").")
}

type ctxKey struct{}

// keyOf returns the API key a request was authenticated with.
func keyOf(r *http.Request) *engram.APIKey { return r.Context().Value(ctxKey{}).(*engram.APIKey) }

var roleRank = map[engram.Role]int{engram.RoleInvoker: 1, engram.RoleDeveloper: 2, engram.RoleAdmin: 3}

// authenticate requires a valid key of at least the given role. A route
// of Anthropic's Messages API also takes the key in x-api-key, as
// Anthropic's clients send it, and answers in Anthropic's error shape.
func (s *Server) authenticate(role engram.Role, messages bool, next http.Handler) http.Handler {
	refuse := writeError
	if messages {
		refuse = func(w http.ResponseWriter, status int, _, _, _, msg string) { writeMessagesError(w, status, msg) }
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if messages && !ok {
			secret, ok = r.Header.Get("X-Api-Key"), true
		}
		secret = strings.TrimSpace(secret)
		if !ok || secret == "" {
			msg := "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
			if messages {
				msg = "x-api-key header is required (or Authorization: Bearer YOUR_KEY)."
			}
			refuse(w, http.StatusUnauthorized, "invalid_request_error", "missing_api_key", "", msg)
			return
		}
		key, err := s.keyFor(r.Context(), secret)
		if err != nil {
			if code := engram.ErrorCode(err); code != engram.ENotFound && code != engram.EUnauthorized {
				if messages {
					s.failMessages(w, r, err)
				} else {
					s.fail(w, r, err)
				}
				return
			}
			msg := "Incorrect API key provided: " + redact(secret) + "."
			if engram.ErrorCode(err) == engram.EUnauthorized {
				msg = engram.ErrorMessage(err)
			}
			refuse(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "", msg)
			return
		}
		noteAuditKey(r, key)
		if roleRank[key.Role] < roleRank[role] {
			refuse(w, http.StatusForbidden, "permission_error", "insufficient_role", "",
				"This key's role ("+string(key.Role)+") may not do this; it needs the "+string(role)+" role.")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, key)))
	})
}

// keyFor finds the key a bearer secret stands for: a stored API key, or
// else, for a secret shaped like a JWT, the synthetic key of the project
// that trusts its issuer (bound to the user it names). Stored keys are
// looked up first, so a seeded admin key that happens to look like a JWT
// still works.
func (s *Server) keyFor(ctx context.Context, secret string) (*engram.APIKey, error) {
	key, err := s.Store.FindAPIKey(ctx, engram.HashKey(secret))
	if engram.ErrorCode(err) != engram.ENotFound || s.Tokens == nil || !looksLikeJWT(secret) {
		return key, err
	}
	return s.Tokens.AuthenticateToken(ctx, secret)
}

// looksLikeJWT reports a compact JWS: three base64url parts, the first a
// JSON object ("eyJ" is how `{"` encodes).
func looksLikeJWT(secret string) bool {
	return !strings.HasPrefix(secret, engram.KeyPrefix) && strings.HasPrefix(secret, "eyJ") && strings.Count(secret, ".") == 2
}

// redact shows only the start and end of a secret, as OpenAI does.
func redact(secret string) string {
	if len(secret) <= 12 {
		return "****"
	}
	return secret[:8] + "****" + secret[len(secret)-4:]
}

// boundUser applies a key's bound end user to the user a request names:
// a key bound to a user acts only as that user.
func boundUser(r *http.Request, asked string) (string, error) {
	k := keyOf(r)
	if k.User == "" {
		return asked, nil
	}
	if asked != "" && asked != k.User {
		return "", engram.ParamErrorf(engram.EForbidden, "user", "This key acts for user '%s' only.", k.User)
	}
	return k.User, nil
}

// visible reports whether a row owned by an end user may be seen with the
// request's key.
func visible(r *http.Request, owner string) bool {
	k := keyOf(r)
	return k.User == "" || k.User == owner
}

// readBody reads a request body within the size limit.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, engram.Errorf(engram.ETooLarge, "The request body is larger than %d bytes.", s.MaxBodyBytes)
	}
	if err != nil {
		return nil, engram.Errorf(engram.EInvalid, "The request body could not be read: %v", err)
	}
	return body, nil
}

// decodeBody reads a JSON object body, refusing unknown fields.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, out any) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	return decodeStrict(body, "", out)
}

// decodeStrict decodes a JSON object into out, refusing unknown fields,
// with OpenAI-shaped errors. within is "" for a request's body (errors name
// the parameter), or the parameter holding the object ("config"): errors
// then name it, and an unknown field as "config.field".
func decodeStrict(data []byte, within string, out any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(out)
	if err == nil {
		return nil
	}
	name, unknown := strings.CutPrefix(err.Error(), "json: unknown field ")
	name = strings.Trim(name, `"`)
	var te *json.UnmarshalTypeError
	switch {
	case within != "" && unknown:
		return engram.ParamErrorf(engram.EInvalid, within, "Unknown parameter: '%s.%s'.", within, name)
	case within != "":
		return engram.ParamErrorf(engram.EInvalid, within, "Invalid '%s': %v", within, err)
	case unknown:
		return engram.ParamErrorf(engram.EInvalid, name, "Unknown parameter: '%s'.", name)
	case errors.As(err, &te):
		return engram.ParamErrorf(engram.EInvalid, te.Field, "Invalid type for '%s': expected %s.", te.Field, te.Type)
	}
	return engram.Errorf(engram.EInvalid, "We could not parse the JSON body of your request: %v", err)
}

// page reads after/before/limit/order from the query, with OpenAI's limits.
func page(r *http.Request, defaultOrder string) (engram.Page, error) {
	q := r.URL.Query()
	p := engram.Page{After: q.Get("after"), Before: q.Get("before"), Order: q.Get("order"), Limit: 20}
	if p.Order == "" {
		p.Order = defaultOrder
	}
	if p.Order != "asc" && p.Order != "desc" {
		return p, engram.ParamErrorf(engram.EInvalid, "order", "Invalid value for 'order': expected 'asc' or 'desc', but got '%s'.", p.Order)
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return p, engram.ParamErrorf(engram.EInvalid, "limit", "Invalid 'limit': expected an integer between 1 and 100, but got '%s'.", v)
		}
		p.Limit = n
	}
	return p, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, typ, code, param, msg string) {
	obj := openai.ErrorObject{Message: msg, Type: typ}
	if code != "" {
		obj.Code = &code
	}
	if param != "" {
		obj.Param = &param
	}
	writeJSON(w, status, openai.ErrorBody{Error: obj})
}

// statusOf maps the domain's error codes to HTTP: the one place this is
// decided.
func statusOf(code string) (int, string) {
	switch code {
	case engram.EInvalid, engram.EUnsupported:
		return http.StatusBadRequest, "invalid_request_error"
	case engram.EUnauthorized:
		return http.StatusUnauthorized, "invalid_request_error"
	case engram.EForbidden:
		return http.StatusForbidden, "permission_error"
	case engram.ENotFound:
		return http.StatusNotFound, "invalid_request_error"
	case engram.EConflict:
		return http.StatusConflict, "invalid_request_error"
	case engram.ETooLarge:
		return http.StatusRequestEntityTooLarge, "invalid_request_error"
	case engram.EUnprocessable:
		return http.StatusUnprocessableEntity, "invalid_request_error"
	case engram.ERateLimited:
		return http.StatusTooManyRequests, "rate_limit_error"
	case engram.EUpstream:
		return http.StatusBadGateway, "server_error"
	case engram.EUnavailable:
		return http.StatusServiceUnavailable, "server_error"
	case engram.EUpstreamTimeout:
		return http.StatusGatewayTimeout, "server_error"
	}
	return http.StatusInternalServerError, "server_error"
}

// errorCode is the OpenAI `code` of an error: for a 400 it names what kind
// of mistake, read from the message OpenAI's wording starts with.
func errorCode(e *engram.Error) string {
	switch e.Code {
	case engram.EInvalid:
		switch {
		case strings.HasPrefix(e.Message, "Unknown parameter"):
			return "unknown_parameter"
		case strings.HasPrefix(e.Message, "Invalid type"):
			return "invalid_type"
		case strings.HasPrefix(e.Message, "Missing required"):
			return "missing_required_parameter"
		case strings.HasPrefix(e.Message, "We could not parse"), strings.HasPrefix(e.Message, "The request body"):
			return "invalid_json"
		case strings.HasPrefix(e.Message, "Your input exceeds the context window"):
			return "context_length_exceeded"
		case strings.HasPrefix(e.Message, "The input holds a term the agent's guardrails block"):
			return engram.ReasonContentFilter
		}
		return "invalid_value"
	case engram.EUnsupported:
		return "unsupported_parameter"
	case engram.ENotFound:
		if strings.HasPrefix(e.Message, "The model ") {
			return "model_not_found" // as OpenAI names it, for clients that branch on it
		}
		return "not_found"
	case engram.EConflict:
		return "conflict"
	case engram.ERateLimited:
		return "rate_limit_exceeded"
	case engram.ETooLarge:
		return "request_too_large"
	case engram.EUpstream:
		return "upstream_error"
	case engram.EUpstreamTimeout:
		return "upstream_timeout"
	case engram.EForbidden:
		return "forbidden"
	}
	return e.Code
}

// fail writes err as an OpenAI error. Errors without a domain code are
// internal: logged in full, shown as "internal error".
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *engram.Error
	if !errors.As(err, &e) && errors.Is(err, context.Canceled) {
		return // the caller went away
	}
	status, _ := statusOf(engram.ErrorCode(err))
	if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		// Unavailable is passing (the database restarting, a replica
		// draining): the official clients retry a 503, sooner with this.
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, openai.ErrorBody{Error: s.errorObject(r, err)})
}

// errorObject is err as OpenAI's error object, for a body or a stream.
func (s *Server) errorObject(r *http.Request, err error) openai.ErrorObject {
	var e *engram.Error
	if !errors.As(err, &e) {
		s.Logger.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &engram.Error{Code: engram.EInternal, Message: "The server had an error while processing your request."}
	}
	_, typ := statusOf(e.Code)
	obj := openai.ErrorObject{Message: e.Message, Type: typ}
	if code := errorCode(e); code != "" {
		obj.Code = &code
	}
	if e.Param != "" {
		obj.Param = &e.Param
	}
	return obj
}
