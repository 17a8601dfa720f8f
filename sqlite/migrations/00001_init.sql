-- +goose Up
CREATE TABLE projects (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects(id),
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL,
    end_user     TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX api_keys_project ON api_keys(project_id, created_at);

-- agents holds each agent's identity and latest version; agent_versions
-- every version's definition.
CREATE TABLE agents (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id),
    name       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (project_id, name)
);
CREATE TABLE agent_versions (
    agent_id   TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    body       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (agent_id, version)
) WITHOUT ROWID;

CREATE TABLE conversations (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id),
    agent_id   TEXT NOT NULL DEFAULT '',
    end_user   TEXT NOT NULL DEFAULT '',
    metadata   TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    hidden     INTEGER NOT NULL DEFAULT 0,
    fork_of    TEXT NOT NULL DEFAULT '',
    fork_seq   INTEGER NOT NULL DEFAULT 0,
    last_seq   INTEGER NOT NULL DEFAULT 0,
    tokens     INTEGER NOT NULL DEFAULT 0,
    deleted    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX conversations_list ON conversations(project_id, hidden, deleted, id);
CREATE INDEX conversations_agent ON conversations(project_id, agent_id, end_user, id) WHERE hidden = 0;

-- items is the log. Rows are clustered by (conversation, seq) so the
-- window of a turn is one short range read.
CREATE TABLE items (
    conversation_id TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    id              TEXT NOT NULL,
    project_id      TEXT NOT NULL,
    type            TEXT NOT NULL,
    response_id     TEXT NOT NULL DEFAULT '',
    origin          TEXT NOT NULL DEFAULT '',
    tokens          INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    deleted         INTEGER NOT NULL DEFAULT 0,
    body            TEXT NOT NULL,
    PRIMARY KEY (conversation_id, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX items_id ON items(id);

-- A response's items are found in its conversation's log between base_seq
-- and last_seq (by response_id, as other runs may interleave), which the
-- log's own key serves: no index of items by response is kept.
CREATE TABLE responses (
    id              TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    status          TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    base_seq        INTEGER NOT NULL,
    last_seq        INTEGER NOT NULL DEFAULT 0,
    deleted         INTEGER NOT NULL DEFAULT 0,
    body            TEXT NOT NULL
) WITHOUT ROWID;

-- usage is clustered by project and time, the order reports read it in.
CREATE TABLE usage (
    id              TEXT NOT NULL,
    project_id      TEXT NOT NULL,
    response_id     TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    agent_id        TEXT NOT NULL DEFAULT '',
    end_user        TEXT NOT NULL DEFAULT '',
    provider        TEXT NOT NULL,
    model           TEXT NOT NULL,
    input_tokens    INTEGER NOT NULL,
    cached_tokens   INTEGER NOT NULL,
    output_tokens   INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    stateless_input_tokens INTEGER NOT NULL,
    estimated       INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (project_id, created_at, id)
) WITHOUT ROWID;
CREATE INDEX usage_conversation ON usage(conversation_id);

-- +goose Down
DROP TABLE usage;
DROP TABLE responses;
DROP TABLE items;
DROP TABLE conversations;
DROP TABLE agent_versions;
DROP TABLE agents;
DROP TABLE api_keys;
DROP TABLE projects;
