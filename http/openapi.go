package http

import (
	"net/http"
	"regexp"
	"strings"
)

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// openapi describes the API from the route table itself, so the document
// cannot drift from what is served. Request and response bodies of the
// OpenAI-compatible endpoints are OpenAI's own (see docs/api.md).
func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	paths := map[string]map[string]any{}
	for _, rt := range s.routes() {
		method, path, _ := strings.Cut(rt.pattern, " ")
		path = strings.ReplaceAll(path, "...}", "}") // a rest-of-path wildcard is one parameter to OpenAPI
		op := map[string]any{
			"summary":     rt.summary,
			"operationId": strings.ToLower(method) + strings.NewReplacer("/", "_", "{", "", "}", "", ".", "_").Replace(path),
			"responses": map[string]any{
				"200":     map[string]any{"description": "OK"},
				"default": map[string]any{"description": "An OpenAI-shaped error", "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}},
			},
		}
		if isMessagesRoute(rt.pattern) {
			op["responses"].(map[string]any)["default"] = map[string]any{"description": "An Anthropic-shaped error: {type: error, error: {type, message}, request_id}"}
		}
		if rt.role != "" {
			op["security"] = []any{map[string]any{"bearer": []any{}}}
			if isMessagesRoute(rt.pattern) {
				op["security"] = []any{map[string]any{"bearer": []any{}}, map[string]any{"x-api-key": []any{}}}
			}
			op["x-engram-role"] = string(rt.role)
		} else {
			op["security"] = []any{}
		}
		if b, ok := bodySchemas[rt.pattern]; ok {
			if b.request != "" {
				op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": schemaRef(b.request)}}}
			}
			op["responses"].(map[string]any)["200"] = map[string]any{"description": "OK", "content": map[string]any{"application/json": map[string]any{"schema": schemaRef(b.response)}}}
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if paths[path] == nil {
			paths[path] = map[string]any{}
		}
		paths[path][strings.ToLower(method)] = op
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "Engram", "version": "1",
			"description": "A stateful runtime for AI agents: OpenAI's Responses and Conversations API over any model provider, with Engram's agents, memory blocks, schedules and keys under the same /v1. Authenticate with Authorization: Bearer <API key>, or with a JWT of an identity provider the project trusts (acting for the user it names, docs/identity.md); x-engram-role names the least role an endpoint needs (invoker < developer < admin)."},
		"paths": paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"},
				"x-api-key": map[string]any{"type": "apiKey", "in": "header", "name": "x-api-key"}},
			"schemas": map[string]any{"Retention": retentionSchema, "RetentionLog": retentionLogSchema, "Error": map[string]any{"type": "object", "required": []string{"error"}, "properties": map[string]any{
				"error": map[string]any{"type": "object", "required": []string{"message", "type", "param", "code"}, "properties": map[string]any{
					"message": map[string]any{"type": "string"}, "type": map[string]any{"type": "string"},
					"param": map[string]any{"type": []string{"string", "null"}}, "code": map[string]any{"type": []string{"string", "null"}},
				}}}}},
		},
	})
}

// bodySchemas names the schemas of the request and answer of the Engram
// endpoints described here in full.
var bodySchemas = map[string]struct{ request, response string }{
	"GET /v1/retention":     {"", "Retention"},
	"POST /v1/retention":    {"Retention", "Retention"},
	"GET /v1/retention/log": {"", "RetentionLog"},
}

func schemaRef(name string) map[string]any {
	return map[string]any{"$ref": "#/components/schemas/" + name}
}

func days(what string) map[string]any {
	return map[string]any{"type": "integer", "minimum": 0, "maximum": 36500, "description": what + " 0 keeps for ever."}
}

var retentionSchema = map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{
	"object":             map[string]any{"type": "string", "const": "retention", "readOnly": true},
	"conversations_days": days("Days a conversation may stay idle (nothing appended, metadata unchanged) before it goes, with its items, responses and extraction state."),
	"responses_days":     days("Days after it ended that a response goes, with its steps and stream events; its items stay in its conversation. Also bounds hidden conversations (previous_response_id chains)."),
	"events_days":        days("Days after its response ended that a stream's events go."),
}}

var retentionLogSchema = map[string]any{"type": "object", "properties": map[string]any{
	"object":   map[string]any{"type": "string", "const": "list"},
	"has_more": map[string]any{"type": "boolean"},
	"first_id": map[string]any{"type": []string{"string", "null"}},
	"last_id":  map[string]any{"type": []string{"string", "null"}},
	"data": map[string]any{"type": "array", "items": map[string]any{"type": "object", "properties": map[string]any{
		"id":         map[string]any{"type": "string"},
		"object":     map[string]any{"type": "string", "const": "retention.purge"},
		"pass":       map[string]any{"type": "string", "description": "The purge pass; a pass's batches add up in one entry."},
		"agent":      map[string]any{"type": "string", "description": "The agent whose rows these were; absent for rows of no agent."},
		"kind":       map[string]any{"type": "string", "enum": []string{"conversations", "responses", "events"}},
		"cutoff":     map[string]any{"type": "integer", "description": "Unix seconds: rows idle or ended before it went."},
		"deleted":    map[string]any{"type": "integer", "description": "Conversations or responses deleted (events: responses whose events went)."},
		"rows":       map[string]any{"type": "integer", "description": "Rows deleted, every table together."},
		"created_at": map[string]any{"type": "integer"},
		"updated_at": map[string]any{"type": "integer"},
	}}},
}}
