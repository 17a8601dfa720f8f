-- +goose Up
-- Lists run in (created_at, id) order, and a deletion in a log reaches the
-- forks that share it, so both need an index.
DROP INDEX conversations_list;
DROP INDEX conversations_agent;
CREATE INDEX conversations_list ON conversations(project_id, hidden, deleted, created_at, id);
CREATE INDEX conversations_agent ON conversations(project_id, agent_id, end_user, created_at, id) WHERE hidden = 0;
CREATE INDEX conversations_user ON conversations(project_id, end_user, created_at, id) WHERE hidden = 0;
CREATE INDEX conversations_forks ON conversations(fork_of, fork_seq) WHERE fork_of != '';
CREATE INDEX agents_list ON agents(project_id, created_at, id);

-- +goose Down
DROP INDEX agents_list;
DROP INDEX conversations_forks;
DROP INDEX conversations_user;
DROP INDEX conversations_agent;
DROP INDEX conversations_list;
CREATE INDEX conversations_list ON conversations(project_id, hidden, deleted, id);
CREATE INDEX conversations_agent ON conversations(project_id, agent_id, end_user, id) WHERE hidden = 0;
