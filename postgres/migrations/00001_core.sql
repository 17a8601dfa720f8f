-- +goose Up
-- The core tables, with the names, columns and encodings of the sqlite
-- store's (after its migrations 00001–00008), so that `engram migrate`
-- copies rows as they are: times are Unix seconds (or ms where sqlite keeps
-- ms) as bigint, flags 0/1 as integer, JSON bodies as text, blobs as bytea.
CREATE TABLE projects (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects(id),
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL,
    end_user     TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX api_keys_project ON api_keys(project_id, created_at);

-- agents holds each agent's identity and latest version; agent_versions
-- every version's definition.
CREATE TABLE agents (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id),
    name       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (project_id, name)
);
CREATE INDEX agents_list ON agents(project_id, created_at, id);
CREATE TABLE agent_versions (
    agent_id   TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (agent_id, version)
);

-- A conversation's row is also the lock of its log: appending takes it
-- (UPDATE … last_seq = last_seq + n), so sequence numbers are gapless and
-- in commit order however many replicas append.
CREATE TABLE conversations (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id),
    agent_id   TEXT NOT NULL DEFAULT '',
    end_user   TEXT NOT NULL DEFAULT '',
    metadata   TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    hidden     INTEGER NOT NULL DEFAULT 0,
    fork_of    TEXT NOT NULL DEFAULT '',
    fork_seq   BIGINT NOT NULL DEFAULT 0,
    last_seq   BIGINT NOT NULL DEFAULT 0,
    tokens     BIGINT NOT NULL DEFAULT 0,
    deleted    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX conversations_list ON conversations(project_id, hidden, deleted, created_at, id);
CREATE INDEX conversations_agent ON conversations(project_id, agent_id, end_user, created_at, id) WHERE hidden = 0;
CREATE INDEX conversations_user ON conversations(project_id, end_user, created_at, id) WHERE hidden = 0;
CREATE INDEX conversations_forks ON conversations(fork_of, fork_seq) WHERE fork_of != '';

-- items is the log; its key (conversation, seq) serves a turn's window as
-- one short range read. search_text is the text of a user's or an
-- assistant's message ('' for other items, and once the item or its
-- conversation is deleted): what message search indexes. sqlite's
-- search_rowid (a pointer into its FTS5 table) has no counterpart here.
CREATE TABLE items (
    conversation_id TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    id              TEXT NOT NULL,
    project_id      TEXT NOT NULL,
    type            TEXT NOT NULL,
    response_id     TEXT NOT NULL DEFAULT '',
    origin          TEXT NOT NULL DEFAULT '',
    tokens          BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    deleted         INTEGER NOT NULL DEFAULT 0,
    body            TEXT NOT NULL,
    search_text     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (conversation_id, seq)
);
CREATE UNIQUE INDEX items_id ON items(id);
-- A window starts at the newest compaction item of its log: the few there
-- are are found without reading the log.
CREATE INDEX items_compactions ON items(conversation_id, seq) WHERE type = 'compaction' AND deleted = 0;

-- A response's items are found in its conversation's log between base_seq
-- and last_seq (by response_id, as other runs may interleave), which the
-- log's own key serves. lease_until is Unix ms; wake_at Unix seconds.
CREATE TABLE responses (
    id               TEXT PRIMARY KEY,
    project_id       TEXT NOT NULL,
    conversation_id  TEXT NOT NULL,
    status           TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    base_seq         BIGINT NOT NULL,
    last_seq         BIGINT NOT NULL DEFAULT 0,
    deleted          INTEGER NOT NULL DEFAULT 0,
    body             TEXT NOT NULL,
    lease_owner      TEXT NOT NULL DEFAULT '',
    lease_until      BIGINT NOT NULL DEFAULT 0,
    wake_at          BIGINT NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    pending_input    TEXT NOT NULL DEFAULT ''
);
-- Only unfinished runs are indexed: the indexes stay as small as the work
-- in flight however many responses have ended.
CREATE INDEX responses_active ON responses(conversation_id, id) WHERE status IN ('queued', 'in_progress', 'requires_action');
CREATE INDEX responses_runnable ON responses(status, id) WHERE status IN ('queued', 'in_progress');
CREATE INDEX responses_list ON responses(project_id, deleted, created_at, id);

-- steps is the journal of runs.
CREATE TABLE steps (
    response_id TEXT NOT NULL,
    n           BIGINT NOT NULL,
    project_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    status      TEXT NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (response_id, n)
);

-- response_events keeps a response's stream: one row per batch of events
-- written together (a step's), found by the last sequence number in it;
-- body is the batch's JSON, deflated.
CREATE TABLE response_events (
    response_id TEXT NOT NULL,
    seq_to      BIGINT NOT NULL,
    body        BYTEA NOT NULL,
    PRIMARY KEY (response_id, seq_to)
);

-- usage is read by project and time, the order reports read it in.
CREATE TABLE usage (
    id                     TEXT NOT NULL,
    project_id             TEXT NOT NULL,
    response_id            TEXT NOT NULL,
    conversation_id        TEXT NOT NULL,
    agent_id               TEXT NOT NULL DEFAULT '',
    end_user               TEXT NOT NULL DEFAULT '',
    provider               TEXT NOT NULL,
    model                  TEXT NOT NULL,
    input_tokens           BIGINT NOT NULL,
    cached_tokens          BIGINT NOT NULL,
    output_tokens          BIGINT NOT NULL,
    reasoning_tokens       BIGINT NOT NULL,
    stateless_input_tokens BIGINT NOT NULL,
    estimated              INTEGER NOT NULL,
    created_at             BIGINT NOT NULL,
    PRIMARY KEY (project_id, created_at, id)
);
CREATE INDEX usage_conversation ON usage(conversation_id);

-- +goose Down
DROP TABLE usage;
DROP TABLE response_events;
DROP TABLE steps;
DROP TABLE responses;
DROP TABLE items;
DROP TABLE conversations;
DROP TABLE agent_versions;
DROP TABLE agents;
DROP TABLE api_keys;
DROP TABLE projects;
