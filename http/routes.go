package http

import (
	"net/http"

	"github.com/engram-run/engram"
)

// route is one endpoint: its pattern, the least role that may call it
// ("" for no key), and its handler.
type route struct {
	pattern string
	role    engram.Role
	handler http.HandlerFunc
	summary string
}

// routes lists every endpoint of the API.
func (s *Server) routes() []route {
	inv, dev, adm := engram.RoleInvoker, engram.RoleDeveloper, engram.RoleAdmin
	return []route{
		{"GET /healthz", "", s.health, "Liveness: always 200 while the process serves."},
		{"GET /readyz", "", s.ready, "Readiness: 200 when the store answers, else 503."},
		{"GET /openapi.json", "", s.openapi, "This document."},

		// OpenAI Responses.
		{"POST /v1/responses", inv, s.createResponse, "Create a response (OpenAI Responses API): plain or streamed (stream: true, Server-Sent Events), continuing previous_response_id or a conversation, with any provider. context_management [{type: compaction, compact_threshold}] summarises older items into a compaction item once the context passes the threshold (agents compact by default at 80% of their budget); truncation auto drops the oldest items instead, disabled (OpenAI's default for bare models) fails with context_length_exceeded. Engram extensions: model \"provider/model\" or \"agent/NAME\", field \"agent\", \"concurrency\" (reject, enqueue, interrupt) and \"limits\" (max_steps, max_tool_calls, max_wall_seconds, max_total_tokens). background: true returns at once; the run continues on a worker."},
		{"POST /v1/responses/compact", inv, s.compactResponse, "Compact a context (OpenAI): the input after previous_response_id (or, an Engram extension, a stored conversation's log) becomes a compaction item (its summary, readable, in encrypted_content) followed by the newest items kept word for word; pass the output as the next input. Given a conversation, the compaction item is also appended to its log and its next turns start from it; the summarised items stay in the log and in searches. model (or agent) writes the summary."},
		{"POST /v1/responses/input_tokens", inv, s.countInputTokens, "Count the input tokens a response would send (OpenAI): instructions, memory blocks, tools, the window of a previous response or conversation and the input, as Engram's context engine builds it (offline o200k_base count)."},
		{"GET /v1/responses", inv, s.listResponses, "List the project's responses (Engram extension; OpenAI has none): newest first, ?status= to see queued, running or waiting runs; after, before, limit, order."},
		{"GET /v1/responses/{id}", inv, s.getResponse, "Retrieve a response; with stream=true, its stream events as Server-Sent Events (starting_after=N resumes after sequence number N), live while it runs."},
		{"POST /v1/responses/{id}/cancel", inv, s.cancelResponse, "Cancel a response: a queued one at once, a running one at its next step boundary, a paused one (waiting for approval or a time) at once. The conversation keeps every completed step's items."},
		{"POST /v1/responses/{id}/approvals", inv, s.approveResponse, "Answer an approval request of a response in requires_action: {approval_request_id, approve, reason}. The run resumes from its journal once every request is answered; a rejection reaches the model as the tool's result."},
		{"GET /v1/responses/{id}/steps", inv, s.listSteps, "A response's journal: every model call and tool call, with status, idempotency key, output, usage and approvals."},
		{"DELETE /v1/responses/{id}", inv, s.deleteResponse, "Delete a response (its items stay in their conversation)."},
		{"GET /v1/responses/{id}/input_items", inv, s.listInputItems, "List a response's input items (after, order desc by default, limit 1-100)."},

		// OpenAI Chat Completions and Models: a stateless gateway.
		{"POST /v1/chat/completions", inv, s.createChatCompletion, "Create a chat completion (OpenAI Chat Completions): one stateless call to the provider the model names (provider/model, a bare gpt-*/claude-* name, or agent/NAME for an agent's model, instructions and temperature), plain or streamed (stream: true; stream_options.include_usage adds a usage chunk). Nothing is stored; usage is the provider's or counted offline. n must be 1; stop, logprobs, logit_bias, JSON response formats, audio and web search are refused with unsupported_parameter."},
		{"GET /v1/models", inv, s.listModels, "List models (OpenAI): the models of every configured provider that can list them, as provider/model (a provider whose upstream does not answer is left out), then the project's agents as agent/NAME (owned_by engram)."},
		{"GET /v1/models/{id...}", inv, s.getModel, "Retrieve a model (OpenAI) by provider/model, bare name or agent/NAME; 404 model_not_found when no configured provider or agent has it."},

		// Anthropic Messages.
		{"POST /v1/messages", inv, s.createMessage, "Create a message (Anthropic Messages API), plain or streamed (stream: true: message_start, content_block_start/delta/stop, message_delta, message_stop, ping), with any provider; the key may be sent as x-api-key, errors are Anthropic's. Stateless by default: the messages are the whole context and nothing is stored. With header x-engram-conversation: conv_… the turn is stateful: the messages after the last assistant message are appended to that conversation and the context comes from its log (agent memory, recall, compaction apply). model: provider/model, a bare model name or agent/NAME. stop_sequences and server tools are refused; top_k, thinking, service_tier and cache_control are ignored (docs/anthropic-messages.md)."},
		{"POST /v1/messages/count_tokens", inv, s.countMessageTokens, "Count a message request's input tokens (Anthropic): system, tools, messages and, with x-engram-conversation, the conversation's window, as Engram's context engine builds it (offline o200k_base count)."},

		// OpenAI Conversations, and Engram's list of them.
		{"POST /v1/conversations", inv, s.createConversation, "Create a conversation with metadata and up to 20 items. Engram extensions: agent, user."},
		{"GET /v1/conversations", inv, s.listConversations, "Engram extension: list conversations, filtered by ?agent= and ?user=, paged (after, order, limit)."},
		{"GET /v1/conversations/{id}", inv, s.getConversation, "Retrieve a conversation."},
		{"POST /v1/conversations/{id}", inv, s.updateConversation, "Update a conversation's metadata."},
		{"DELETE /v1/conversations/{id}", inv, s.deleteConversation, "Delete a conversation."},
		{"POST /v1/conversations/{id}/items", inv, s.createItems, "Add up to 20 items to a conversation."},
		{"GET /v1/conversations/{id}/items", inv, s.listItems, "List a conversation's items (after, order desc by default, limit 1-100)."},
		{"GET /v1/conversations/{id}/items/{item}", inv, s.getItem, "Retrieve an item."},
		{"GET /v1/conversations/{id}/extraction", inv, s.getExtraction, "Engram extension: where memory extraction stands for a conversation whose agent extracts (memory.extraction): status pending (due_at), running, idle or failed (last_error, retried with backoff), through_seq (the log extracted so far), pending_turns, records written, passes; status off when its agent does not extract."},
		{"DELETE /v1/conversations/{id}/items/{item}", inv, s.deleteItem, "Delete an item: hidden from lists and from the model's context; the log keeps it."},

		// Engram: agents and keys.
		{"POST /v1/agents", dev, s.createAgent, "Create an agent: name, model, instructions, tools (function, builtin, http; the builtins object_store and sql_query name a project connector: {type: builtin, name, connector}, docs/tools.md; {type: mcp, connector, allowed_tools, require_approval} gives it the tools of the MCP server a connector of kind mcp names, each called CONNECTOR__TOOL: see docs/mcp.md), context {budget_tokens, truncation auto|disabled, compaction auto|off, compact_threshold, keep_tokens, compaction_model, recall_tokens}, memory {blocks: [{id} or {label, value, limit}], recall auto|off, extraction {every_turns, idle_seconds, model}}, temperature, max_tool_calls, limits, concurrency, metadata, retention {conversations_days, responses_days, events_days} (replaces the project's policy for this agent's conversations and responses; null on update goes back to the project's), guardrails {input, output: {redact: [{builtin email|phone|credit_card|iban|us_ssn|ipv4|api_key, or pattern (RE2), name, replacement}], block: [terms]}} (input: user text redacted before it is stored or sent, a blocked term refused with 400 code content_filter; output: model text redacted before it is streamed, stored or returned, a blocked term ends the response incomplete with reason content_filter; {} removes them; docs/guardrails.md). 422 when its model's provider is not configured, a builtin tool does not exist, or it has mcp tools and this server has no MCP connectors. An MCP server is not contacted here: one that cannot be reached when the agent runs makes that response fail with 503."},
		{"GET /v1/agents", inv, s.listAgents, "List agents (latest versions)."},
		{"GET /v1/agents/{ref}", inv, s.getAgent, "Retrieve an agent by id or name; ?version=N for an older version."},
		{"POST /v1/agents/{ref}", dev, s.updateAgent, "Update an agent: the given fields change and a new version is made."},
		{"DELETE /v1/agents/{ref}", dev, s.deleteAgent, "Delete an agent."},
		{"GET /v1/agents/{ref}/versions", inv, s.listAgentVersions, "List every version of an agent."},
		{"POST /v1/keys", adm, s.createKey, "Create an API key {name, role: admin|developer|invoker, user}; the secret (\"key\") is shown only in this answer."},
		{"GET /v1/keys", adm, s.listKeys, "List API keys (prefixes only, never secrets)."},
		{"DELETE /v1/keys/{id}", adm, s.revokeKey, "Revoke an API key."},

		// Engram: projects.
		{"POST /v1/projects", adm, s.createProject, "Create a project and its first admin key (only admin keys of the operator project, the one the first start created; others get 403): {name, retention {conversations_days, responses_days, events_days}, auth {jwt: {jwks_url, issuer, audience, user_claim (default sub), role developer|invoker (default invoker)}}}. The answer's key.key is the new admin key's secret, shown only this once (docs/identity.md)."},
		{"GET /v1/projects", adm, s.listProjects, "List projects: every project for the operator project's admins, the key's own project for any other admin."},
		{"GET /v1/projects/{id}", adm, s.getProject, "Retrieve a project: its name, retention, auth (the JWT issuer it trusts) and whether it is the operator project. An admin sees its own project; the operator project's admins see any; any other project is 404."},
		{"POST /v1/projects/{id}", adm, s.updateProject, "Update a project (its own, or any for the operator project's admins): name; retention (the fields given change); auth, replaced whole: {jwt: {jwks_url, issuer, audience, user_claim, role}} lets the project's front-ends call with their identity provider's JWTs (RS256, ES256 or EdDSA, exp required), each acting for the user its user_claim names, as a key bound to that user; {jwt: null} turns JWTs off. 409 when another project already accepts the same issuer and audience."},

		// Engram: retention.
		{"GET /v1/retention", inv, s.getRetention, "The project's retention policy: conversations_days (a conversation idle that long goes, with its items, responses and extraction state), responses_days (a response ended that long ago goes, with its steps and events; its items stay in their conversation), events_days (a response's stream events go that long after it ended). 0 keeps for ever (the default). Usage, memory records and memory blocks are never purged (docs/retention.md)."},
		{"POST /v1/retention", adm, s.setRetention, "Set the project's retention policy: the fields given (whole days, 0 to 36500, 0 keeps for ever) change. Every node purges what expired about once an hour, in small transactions, and logs what it deleted."},
		{"GET /v1/retention/log", dev, s.listRetentionLog, "The retention log: what each purge pass deleted, per agent (absent: rows of no agent), kind (conversations, responses, events) and cutoff (Unix seconds), with deleted (conversations or responses) and rows (every row, all tables); newest first, paged (after, before, order, limit)."},

		// Engram: the audit log.
		{"GET /v1/audit", adm, s.listAudit, "The project's audit log: every request that changed state (action: the route, e.g. \"POST /v1/agents/{ref}\"; resource: the ids in its path, or the id it created), tool call, policy decision and retention purge, with actor (key:ID, plus user:U for a key acting for an end user; system:retention), outcome (success, failure, refused: a tool call its tool said no to; allow, deny, ask), time (Unix ms), details (status, request id; never bodies) and the hash chain (seq, details_digest, prev_hash, hash; docs/audit.md). Filters actor, action, resource, outcome (exact), from and to (Unix ms, to exclusive); cursors after and before (seqs, exclusive, in the page's order); order asc (default) or desc; limit 1-1000 (default 100). first_id and last_id are seqs."},
		{"GET /v1/audit/verify", adm, s.verifyAudit, "Verify the project's audit chain on the server, from its first entry: seqs gapless from 1, each prev_hash the hash before, each hash and details digest recomputed. Answers {valid, entries, head_seq, head_hash, error: {seq, message}} (on failure, entries and head cover what verified before the first bad entry). expect_head=HASH also requires the chain to hold that entry (a head noted earlier): the only way to notice entries removed from the end."},

		// Engram: usage.
		{"GET /v1/usage", inv, s.getUsage, "Token usage totals (Engram extension): group_by project (default), agent, conversation, user or model; filters agent (id or name), conversation, user, from and to (Unix seconds, to exclusive), limit. Each total has model_calls, responses, input/cached/output/reasoning tokens, the stateless counterfactual (stateless_input_tokens: what a client re-sending the whole history would have sent) and the saving (saved_input_tokens, saved_ratio). A key bound to a user sees that user's usage only."},

		// Engram: memory blocks.
		{"POST /v1/memory/blocks", dev, s.createBlock, "Create a memory block: label (lower-case letters, digits, '_', '-'), value, description, limit (characters, default 2000, at most 20000), read_only (agents may not edit it), metadata. Agents list the blocks they see in memory.blocks; one block may be shared by several agents."},
		{"GET /v1/memory/blocks", inv, s.listBlocks, "List the project's memory blocks at their current versions, paged (after, before, order, limit)."},
		{"GET /v1/memory/blocks/{id}", inv, s.getBlock, "Retrieve a memory block at its current version."},
		{"POST /v1/memory/blocks/{id}", dev, s.updateBlock, "Update a memory block: the given fields change and a new version is made. expected_version makes the edit apply only to that version (409 if another edit came first)."},
		{"GET /v1/memory/blocks/{id}/versions", inv, s.listBlockVersions, "List every version of a memory block, oldest first, each with who made it (api or agent, with the agent's conversation, response and call_id)."},
		{"DELETE /v1/memory/blocks/{id}", dev, s.deleteBlock, "Delete a memory block and its versions; agents that name it no longer see it."},

		// Engram: policies.
		{"POST /v1/policies", adm, s.createPolicy, "Create a policy: name (1-64 letters, digits, '.', '_', '-'; unique), policy (Cedar text: permit/forbid statements over principal Engram::Agent, action Engram::Action::\"<tool name>\", resource Engram::Tool, context {args, user, response_id, declared}), description. Checked on write: 400 with the line and column of a syntax error, an unknown entity type or attribute (param policy). Once a project stores a policy, only stored policies decide its tool calls: a call no policy permits is refused, a forbid beats any permit, a permit annotated @ask(\"why\") sends the call to a person (requires_action). docs/policies.md."},
		{"GET /v1/policies", dev, s.listPolicies, "List the project's policies, oldest first; while it stores none, the built-in default (default: true), which permits every tool the agent declares."},
		{"POST /v1/policies/evaluate", dev, s.evaluatePolicies, "Decide a tool call without making it (a dry run for people writing policies): {agent (id or name), user, key, role, tool, arguments (object or JSON string), response_id} -> {effect allow|deny|ask, policies (the ids that decided: NAME, or NAME#N / NAME#ID for a document of several statements), reason, errors (policies skipped because they failed to evaluate), declared}. Reads the stored policies as they are now."},
		{"GET /v1/policies/{id}", dev, s.getPolicy, "Retrieve a policy by id or name (\"default\": the built-in, while the project stores none)."},
		{"POST /v1/policies/{id}", adm, s.updatePolicy, "Update a policy (id or name): the given fields of name, policy, description change; checked as on create. Decisions on this server see it at once, on other replicas within a second."},
		{"DELETE /v1/policies/{id}", adm, s.deletePolicy, "Delete a policy (id or name). Deleting a project's last policy brings back the built-in default."},
		// Engram: budgets.
		{"POST /v1/budgets", adm, s.createBudget, "Create a budget: scope project, agent or user; subject (the agent, by id or name, or the end user; none for project); period day or month (UTC calendar day or month); max_tokens (input plus output tokens) and/or max_cost_usd (priced per model from the price table: built-in list prices of well-known OpenAI and Anthropic models, overridden by the JSON file ENGRAM_PRICES; a model with no price costs 0 and is listed in spend.unpriced_models); metadata. Before every model call of a response, each budget that applies (the project's, its agent's, its end user's) is checked: a call whose input would pass one ends the response incomplete with incomplete_details.reason budget_exceeded and error {code budget_exceeded, message naming the budget, its limit and period}. Every answer shows spend {tokens, cost_usd, period_start, period_end, remaining}."},
		{"GET /v1/budgets", dev, s.listBudgets, "List the project's budgets, oldest first, each with its current period's spend."},
		{"GET /v1/budgets/{id}", dev, s.getBudget, "Retrieve a budget with its current period's spend {tokens, cost_usd, period_start, period_end, remaining {tokens, cost_usd}, unpriced_models}."},
		{"POST /v1/budgets/{id}", adm, s.updateBudget, "Update a budget's period, max_tokens, max_cost_usd or metadata (scope and subject are fixed: make a new budget)."},
		{"DELETE /v1/budgets/{id}", adm, s.deleteBudget, "Delete a budget; the usage it counted stays."},

		// Engram: schedules.
		{"POST /v1/schedules", dev, s.createSchedule, "Create a schedule: agent (id or name), cron (five fields), timezone (IANA, default UTC), input (the user message each fire sends), conversation (optional; default a new conversation per fire), catch_up, paused, name, metadata. Each fire time starts one background response, once, across nodes and restarts. catch_up \"skip\" (default): after downtime, fire once at once for all the fires missed, then continue from now; \"none\": drop missed fires and wait for the next time."},
		{"GET /v1/schedules", inv, s.listSchedules, "List schedules, paged (after, order, limit)."},
		{"GET /v1/schedules/{id}", inv, s.getSchedule, "Retrieve a schedule with next_fire_at, its last fire (last_fire_at, last_response_id, last_error) and next_fire_times: its next 5 fire times (RFC 3339, in its time zone)."},
		{"POST /v1/schedules/{id}", dev, s.updateSchedule, "Update a schedule: the given fields change and its next fire time is computed afresh from now."},
		{"POST /v1/schedules/{id}/pause", dev, s.pauseSchedule, "Pause a schedule: it does not fire until resumed; next_fire_at is 0."},
		{"POST /v1/schedules/{id}/resume", dev, s.resumeSchedule, "Resume a schedule from now: the times passed while paused are not fired (whatever catch_up says)."},
		{"DELETE /v1/schedules/{id}", dev, s.deleteSchedule, "Delete a schedule; the responses it started stay."},

		// Engram: connectors (docs/connectors.md).
		{"POST /v1/connectors", adm, s.createConnector, "Create a connector, a named way for agents' tools to reach a live system: name, kind (http, s3, postgres, sqlite, mcp), config (the kind's settings, in clear: http {base_url, allow_private}; s3 {endpoint, region, bucket, path_style, allow_private}; postgres {url without password, max_rows, timeout_ms}; sqlite {path, max_rows, timeout_ms}; mcp {transport stdio|http, command, args, env, url, allow_private}), per_user (each end user needs a credential of their own: a call acting for a user without one is refused), secret {headers, fields} (the shared credential: sealed with the master key, never shown again), metadata. Answers show has_secret and users, never a secret."},
		{"GET /v1/connectors", dev, s.listConnectors, "List connectors (has_secret and users, never secrets), paged (after, before, order, limit)."},
		{"GET /v1/connectors/{ref}", dev, s.getConnector, "Retrieve a connector by id or name: its config, per_user, has_secret and the users with a credential of their own; never a secret."},
		{"POST /v1/connectors/{ref}", adm, s.updateConnector, "Update a connector: the given fields change (kind cannot); secret replaces the shared credential, secret: null removes it; per-user credentials stay."},
		{"DELETE /v1/connectors/{ref}", adm, s.deleteConnector, "Delete a connector with every credential it holds; agents that name it get their calls refused."},
		{"POST /v1/connectors/{ref}/credentials", adm, s.putCredential, "Store (or replace) an end user's own credential: {user, secret {headers, fields}}. A tool call acting for that user (the run's user) uses it instead of the shared one (on-behalf-of)."},
		{"DELETE /v1/connectors/{ref}/credentials/{user}", adm, s.deleteCredential, "Delete an end user's credential."},

		// Engram: memory records.
		{"POST /v1/memory/records", inv, s.createRecord, "Write a memory record: text, kind (fact (default), preference, episode or passage), agent (id or name; absent: no agent's), user (absent with a key bound to a user: that user), metadata, occurred_at (Unix seconds; default now), supersedes (the id of a record of the same agent and user this one corrects: it stays, marked superseded_by, and leaves searches). The record is embedded when an embedding model is configured and searchable at once."},
		{"GET /v1/memory/records", inv, s.listRecords, "List the memory records of one agent and user (?agent=, ?user=; each absent means records of no agent or no user), ?kind=, ?include_superseded=true, paged (after, order desc by default, limit 1-100)."},
		{"GET /v1/memory/records/{id}", inv, s.getRecord, "Retrieve a memory record."},
		{"DELETE /v1/memory/records/{id}", inv, s.deleteRecord, "Delete a memory record."},
		{"POST /v1/memory/records/search", inv, s.searchRecords, "Search the memory records of one agent and user: {agent, user, query, limit (1-100, default 10), kinds, include_superseded, mode}. mode \"hybrid\" (default) fuses BM25, vector similarity (when an embedding model is configured) and recency by reciprocal rank, scores scaled so 1 is first in every ranking; \"bm25\" ranks by text alone, with BM25 scores."},
	}
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	if s.Ready != nil {
		if err := s.Ready(r.Context()); err != nil {
			s.Logger.Warn("not ready", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
