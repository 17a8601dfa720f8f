package http

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/http/anthropic"
	"github.com/engram-run/engram/http/openai"
)

// auditSlot carries what the audit of a request learns on the way in: the
// key, once authenticate has found it (a request refused for its role is
// recorded too; one with no valid key has no project and is not).
type auditSlot struct{ key *engram.APIKey }

type auditCtxKey struct{}

// noteAuditKey tells the audit of r (if it is audited) which key made it.
func noteAuditKey(r *http.Request, key *engram.APIKey) {
	if slot, ok := r.Context().Value(auditCtxKey{}).(*auditSlot); ok {
		slot.key = key
	}
}

// stateless are the POST routes that change nothing: they read, count or
// call a model without storing. Every other POST and DELETE is audited.
var stateless = map[string]bool{
	"POST /v1/responses/input_tokens": true,
	"POST /v1/messages/count_tokens":  true,
	"POST /v1/memory/records/search":  true,
	"POST /v1/chat/completions":       true,
	"POST /v1/messages":               true, // unless stateful: see audits
}

// audits reports whether a request to the route pattern mutates state and
// is to be recorded.
func audits(pattern string, r *http.Request) bool {
	if pattern == "POST /v1/messages" {
		return strings.TrimSpace(r.Header.Get(anthropic.ConversationHeader)) != "" // a stateful Messages turn appends to a conversation
	}
	return !stateless[pattern]
}

// mutating reports whether a route may change state: its requests are
// audited (but for the stateless ones, per request).
func mutating(pattern string) bool {
	return strings.HasPrefix(pattern, "POST ") || strings.HasPrefix(pattern, "DELETE ")
}

var wildcard = regexp.MustCompile(`\{([^}.]+)(\.\.\.)?\}`)

// audited records every answered request to a mutating route in its
// project's audit log: actor from the key, action the route's pattern,
// resource the ids in the path (or, for a create, the id of what its JSON
// answer made), outcome success below 400, details the status and request
// id. Never a body: they hold secrets (keys, credentials) and users' words.
// The entry is appended before the answer leaves (a client that has its
// answer can find its entry); a failure to append is logged, as the
// change it records is already made.
func (s *Server) audited(pattern string, next http.Handler) http.Handler {
	var names []string
	for _, m := range wildcard.FindAllStringSubmatch(pattern, -1) {
		names = append(names, m[1])
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !audits(pattern, r) {
			next.ServeHTTP(w, r)
			return
		}
		slot := &auditSlot{}
		aw := &auditWriter{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), auditCtxKey{}, slot))
		next.ServeHTTP(aw, r)
		if slot.key == nil {
			return // no valid key: no project to record it in
		}
		var ids []string
		for _, name := range names {
			ids = append(ids, r.PathValue(name))
		}
		resource := strings.Join(ids, "/")
		if resource == "" {
			resource = aw.createdID()
		}
		status := aw.status
		if status == 0 {
			status = statusClientGone
		}
		outcome := engram.AuditSuccess
		if status >= 400 {
			outcome = engram.AuditFailure
		}
		e := &engram.AuditEntry{ProjectID: slot.key.ProjectID, Actor: engram.KeyActor(slot.key), Action: pattern, Resource: resource, Outcome: outcome,
			Details: engram.AuditDetails(auditDetails{Status: status, RequestID: w.Header().Get("X-Request-Id")})}
		if err := s.Audit.Record(r.Context(), e); err != nil {
			s.Logger.Error("audit: could not record a request", "action", pattern, "resource", resource, "err", err)
		}
	})
}

// statusClientGone is the status recorded for a request whose handler
// wrote no answer because its client went away first (nginx's 499).
const statusClientGone = 499

type auditDetails struct {
	Status    int    `json:"status"`
	RequestID string `json:"request_id,omitempty"`
}

// auditWriter notes the status of an answer and keeps the start of a
// successful JSON answer, to read the id of what a create made.
type auditWriter struct {
	http.ResponseWriter
	status int
	sniff  bool
	stream bool
	head   []byte
}

// sniffBytes bounds the start of an answer kept for its id.
const sniffBytes = 4096

func (w *auditWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
		ct := w.Header().Get("Content-Type")
		w.sniff = code < 400 && (strings.HasPrefix(ct, "application/json") || strings.HasPrefix(ct, "text/event-stream"))
		w.stream = strings.HasPrefix(ct, "text/event-stream")
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *auditWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.sniff && len(w.head) < sniffBytes {
		w.head = append(w.head, b[:min(len(b), sniffBytes-len(w.head))]...)
	}
	return w.ResponseWriter.Write(b)
}

// Flush passes on to the connection: streams (SSE) flush each event.
func (w *auditWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *auditWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// streamCreated finds what a stream's first event says it made: the
// response of response.created, the message of message_start.
var streamCreated = regexp.MustCompile(`^data: \{"type":"(?:response\.created","sequence_number":\d+,"response|message_start","message)":\{"id":"([^"]+)"`)

// createdID returns the top-level "id" of the JSON answer's start, or the
// id a stream's first event names, if there is one; nothing else of the
// answer is read.
func (w *auditWriter) createdID() string {
	if w.stream {
		for _, line := range strings.SplitN(string(w.head), "\n", 4) {
			if m := streamCreated.FindStringSubmatch(line); m != nil {
				return m[1]
			}
		}
		return ""
	}
	dec := json.NewDecoder(bytes.NewReader(w.head))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return ""
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return ""
		}
		if key == "id" {
			if tok, err := dec.Token(); err == nil {
				if id, ok := tok.(string); ok {
					return id
				}
			}
			return ""
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return ""
		}
	}
	return ""
}

// auditEntryJSON is an entry as the API shows it.
type auditEntryJSON struct {
	Object string `json:"object"`
	*engram.AuditEntry
}

// auditOutcomes are the outcomes entries may have.
var auditOutcomes = []string{engram.AuditSuccess, engram.AuditFailure, engram.AuditRefused, engram.DecisionAllow, engram.DecisionDeny, engram.DecisionAsk}

// auditFilter reads GET /v1/audit's query.
func auditFilter(r *http.Request) (engram.AuditFilter, error) {
	q := r.URL.Query()
	f := engram.AuditFilter{Actor: q.Get("actor"), Action: q.Get("action"), Resource: q.Get("resource"), Outcome: q.Get("outcome"),
		Order: q.Get("order"), Limit: 100}
	if f.Order == "" {
		f.Order = "asc"
	}
	if f.Order != "asc" && f.Order != "desc" {
		return f, engram.ParamErrorf(engram.EInvalid, "order", "Invalid value for 'order': expected 'asc' or 'desc', but got '%s'.", f.Order)
	}
	if f.Outcome != "" && !slices.Contains(auditOutcomes, f.Outcome) {
		return f, engram.ParamErrorf(engram.EInvalid, "outcome", "Invalid value for 'outcome': expected one of %s, but got '%s'.", strings.Join(auditOutcomes, ", "), f.Outcome)
	}
	for _, n := range []struct {
		name string
		dst  *int64
		what string
	}{{"from", &f.From, "a time in Unix milliseconds"}, {"to", &f.To, "a time in Unix milliseconds"},
		{"after", &f.AfterSeq, "an entry's seq"}, {"before", &f.BeforeSeq, "an entry's seq"}} {
		if v := q.Get(n.name); v != "" {
			x, err := strconv.ParseInt(v, 10, 64)
			if err != nil || x < 0 {
				return f, engram.ParamErrorf(engram.EInvalid, n.name, "Invalid '%s': expected %s (a non-negative integer), but got '%s'.", n.name, n.what, v)
			}
			*n.dst = x
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > engram.AuditMaxLimit {
			return f, engram.ParamErrorf(engram.EInvalid, "limit", "Invalid 'limit': expected an integer between 1 and %d, but got '%s'.", engram.AuditMaxLimit, v)
		}
		f.Limit = n
	}
	return f, nil
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	f, err := auditFilter(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	list, more, err := s.Store.ListAudit(r.Context(), keyOf(r).ProjectID, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]auditEntryJSON, len(list))
	for i, e := range list {
		out[i] = auditEntryJSON{Object: "audit.entry", AuditEntry: e}
	}
	writeJSON(w, http.StatusOK, openai.NewList(out, more, func(e auditEntryJSON) string { return strconv.FormatInt(e.Seq, 10) }))
}

// auditVerification is the answer of GET /v1/audit/verify.
type auditVerification struct {
	Object   string             `json:"object"`
	Valid    bool               `json:"valid"`
	Entries  int64              `json:"entries"`
	HeadSeq  int64              `json:"head_seq"`
	HeadHash string             `json:"head_hash"`
	Error    *auditVerifyFailed `json:"error,omitempty"`
}

type auditVerifyFailed struct {
	Seq     int64  `json:"seq,omitempty"`
	Message string `json:"message"`
}

// verifyAudit checks the project's whole chain, a page at a time;
// ?expect_head=HASH also requires the chain to hold that entry.
func (s *Server) verifyAudit(w http.ResponseWriter, r *http.Request) {
	v := &engram.AuditVerifier{Expect: r.URL.Query().Get("expect_head")}
	f := engram.AuditFilter{Order: "asc", Limit: engram.AuditMaxLimit}
	var verr error
	for verr == nil {
		page, more, err := s.Store.ListAudit(r.Context(), keyOf(r).ProjectID, f)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		verr = v.Add(page)
		if !more || len(page) == 0 {
			break
		}
		f.AfterSeq = page[len(page)-1].Seq
	}
	if verr == nil {
		verr = v.Finish()
	}
	out := auditVerification{Object: "audit.verification", Valid: verr == nil, Entries: v.Entries}
	if v.Head != nil {
		out.HeadSeq, out.HeadHash = v.Head.Seq, v.Head.Hash
	}
	if verr != nil {
		out.Error = &auditVerifyFailed{Seq: v.BadSeq, Message: engram.ErrorMessage(verr)}
	}
	writeJSON(w, http.StatusOK, out)
}
