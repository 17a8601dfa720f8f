-- +goose Up
-- A project's retention policy (engram.Retention as JSON; {} keeps all).
ALTER TABLE projects ADD COLUMN retention TEXT NOT NULL DEFAULT '{}';

-- updated_at is when a conversation was last appended to (or its metadata
-- changed), to the hour: what its retention counts from. Triggers keep it,
-- so no writer has to remember; a row inserted with it set (an import)
-- keeps its value. It moves at most once an hour, so that appends do not
-- each pay for rewriting it and its index entry (retention counts days;
-- purges allow for the hour). The index serves purges: per agent and
-- visibility, the longest idle first, so a purge reads only what it
-- deletes.
ALTER TABLE conversations ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
UPDATE conversations SET updated_at = MAX(created_at,
    COALESCE((SELECT i.created_at FROM items i WHERE i.conversation_id = conversations.id AND i.seq = conversations.last_seq), 0));
-- +goose StatementBegin
CREATE TRIGGER conversations_inserted AFTER INSERT ON conversations WHEN NEW.updated_at = 0
BEGIN
    UPDATE conversations SET updated_at = NEW.created_at WHERE rowid = NEW.rowid;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER conversations_updated AFTER UPDATE OF last_seq, metadata ON conversations
    WHEN NEW.updated_at < unixepoch() - 3600
BEGIN
    UPDATE conversations SET updated_at = unixepoch() WHERE rowid = NEW.rowid;
END;
-- +goose StatementEnd
CREATE INDEX conversations_expiry ON conversations(project_id, agent_id, hidden, updated_at);

-- ended_at is when a response reached a final status; agent_id is its
-- conversation's agent, whose policy applies to it; events_purged is set
-- once its stream events are gone. A trigger sets the first two as the
-- status changes, so every path that ends a run does. Only ended
-- responses are indexed, and the second index only until their events
-- are gone: neither is read past what a purge deletes.
ALTER TABLE responses ADD COLUMN ended_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE responses ADD COLUMN agent_id TEXT NOT NULL DEFAULT '';
ALTER TABLE responses ADD COLUMN events_purged INTEGER NOT NULL DEFAULT 0;
UPDATE responses SET
    ended_at = MAX(created_at, COALESCE(json_extract(body, '$.completed_at'), 0)),
    agent_id = COALESCE((SELECT c.agent_id FROM conversations c WHERE c.id = responses.conversation_id), '')
    WHERE status IN ('completed', 'failed', 'cancelled', 'incomplete');
-- +goose StatementBegin
CREATE TRIGGER responses_ended AFTER UPDATE OF status ON responses
    WHEN NEW.status IN ('completed', 'failed', 'cancelled', 'incomplete') AND NEW.ended_at = 0
BEGIN
    UPDATE responses SET ended_at = unixepoch(),
        agent_id = COALESCE((SELECT c.agent_id FROM conversations c WHERE c.id = NEW.conversation_id), '')
        WHERE id = NEW.id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER responses_inserted_ended AFTER INSERT ON responses
    WHEN NEW.status IN ('completed', 'failed', 'cancelled', 'incomplete') AND NEW.ended_at = 0
BEGIN
    UPDATE responses SET ended_at = unixepoch(),
        agent_id = COALESCE((SELECT c.agent_id FROM conversations c WHERE c.id = NEW.conversation_id), '')
        WHERE id = NEW.id;
END;
-- +goose StatementEnd
CREATE INDEX responses_expiry ON responses(project_id, agent_id, ended_at) WHERE ended_at > 0;
CREATE INDEX responses_events_expiry ON responses(project_id, agent_id, ended_at) WHERE ended_at > 0 AND events_purged = 0;
-- A conversation's responses go with it.
CREATE INDEX responses_conversation ON responses(conversation_id);

-- retention_log: what each purge pass deleted, per agent, kind and cutoff.
CREATE TABLE retention_log (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id),
    pass       TEXT NOT NULL,
    agent_id   TEXT NOT NULL DEFAULT '',
    kind       TEXT NOT NULL,
    cutoff     INTEGER NOT NULL,
    deleted    INTEGER NOT NULL,
    rows       INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (pass, project_id, agent_id, kind, cutoff)
);
CREATE INDEX retention_log_list ON retention_log(project_id, created_at, id);

-- +goose Down
DROP TABLE retention_log;
DROP INDEX responses_conversation;
DROP INDEX responses_events_expiry;
DROP INDEX responses_expiry;
DROP TRIGGER responses_inserted_ended;
DROP TRIGGER responses_ended;
ALTER TABLE responses DROP COLUMN events_purged;
ALTER TABLE responses DROP COLUMN agent_id;
ALTER TABLE responses DROP COLUMN ended_at;
DROP INDEX conversations_expiry;
DROP TRIGGER conversations_updated;
DROP TRIGGER conversations_inserted;
ALTER TABLE conversations DROP COLUMN updated_at;
ALTER TABLE projects DROP COLUMN retention;
