-- +goose Up
-- Budgets cap a project's, an agent's or an end user's model spend per
-- UTC day or month (engram.Budget).
CREATE TABLE budgets (
    id           TEXT NOT NULL PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects(id),
    scope        TEXT NOT NULL,
    subject      TEXT NOT NULL DEFAULT '',
    period       TEXT NOT NULL,
    max_tokens   BIGINT NOT NULL DEFAULT 0,
    -- whole micro-dollars: an integer is exact and reads the same from
    -- either database (engram migrate compares copies byte for byte)
    max_cost_micro_usd BIGINT NOT NULL DEFAULT 0,
    metadata     TEXT NOT NULL DEFAULT '{}',
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX budgets_project ON budgets(project_id, created_at, id);
-- A budget's spend is one query per model call: the usage of an agent or
-- an end user in a period, read through these without scanning the
-- project's other usage.
CREATE INDEX usage_agent ON usage(project_id, agent_id, created_at);
CREATE INDEX usage_user ON usage(project_id, end_user, created_at);

-- +goose Down
DROP INDEX usage_user;
DROP INDEX usage_agent;
DROP TABLE budgets;
