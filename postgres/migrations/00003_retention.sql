-- +goose Up
-- Retention: the columns, triggers and indexes of sqlite's migration
-- 00009, with the same names and encodings, so that `engram migrate`
-- copies them as they are.

-- A project's retention policy (engram.Retention as JSON; {} keeps all).
ALTER TABLE projects ADD COLUMN retention TEXT NOT NULL DEFAULT '{}';

-- updated_at is when a conversation was last appended to (or its metadata
-- changed), to the hour: what its retention counts from. A trigger keeps
-- it, so no writer has to remember; a row inserted with it set (a copied
-- one) keeps its value. It moves at most once an hour: an update that
-- changes an indexed column cannot be a HOT update and rewrites every
-- index of the row, which on every append would cost a turn a third more
-- (retention counts days; purges allow for the hour). The index serves
-- purges: per agent and visibility, the longest idle first, so a purge
-- reads only what it deletes.
ALTER TABLE conversations ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
UPDATE conversations c SET updated_at = GREATEST(c.created_at,
    COALESCE((SELECT i.created_at FROM items i WHERE i.conversation_id = c.id AND i.seq = c.last_seq), 0));
-- +goose StatementBegin
CREATE FUNCTION engram_conversation_touched() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.updated_at = 0 THEN
            NEW.updated_at := NEW.created_at;
        END IF;
    ELSIF NEW.updated_at < extract(epoch FROM now())::bigint - 3600 THEN
        NEW.updated_at := extract(epoch FROM now())::bigint;
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER conversations_inserted BEFORE INSERT ON conversations
    FOR EACH ROW EXECUTE FUNCTION engram_conversation_touched();
CREATE TRIGGER conversations_updated BEFORE UPDATE OF last_seq, metadata ON conversations
    FOR EACH ROW EXECUTE FUNCTION engram_conversation_touched();
CREATE INDEX conversations_expiry ON conversations(project_id, agent_id, hidden, updated_at);

-- ended_at is when a response reached a final status; agent_id is its
-- conversation's agent, whose policy applies to it; events_purged is set
-- once its stream events are gone. A trigger sets the first two as the
-- status changes, so every path that ends a run does. Only ended responses
-- are indexed, and the second index only until their events are gone:
-- neither is read past what a purge deletes.
ALTER TABLE responses ADD COLUMN ended_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE responses ADD COLUMN agent_id TEXT NOT NULL DEFAULT '';
ALTER TABLE responses ADD COLUMN events_purged INTEGER NOT NULL DEFAULT 0;
UPDATE responses r SET
    ended_at = GREATEST(r.created_at, COALESCE((r.body::jsonb->>'completed_at')::bigint, 0)),
    agent_id = COALESCE((SELECT c.agent_id FROM conversations c WHERE c.id = r.conversation_id), '')
    WHERE r.status IN ('completed', 'failed', 'cancelled', 'incomplete');
-- +goose StatementBegin
CREATE FUNCTION engram_response_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IN ('completed', 'failed', 'cancelled', 'incomplete') AND NEW.ended_at = 0 THEN
        NEW.ended_at := extract(epoch FROM now())::bigint;
        NEW.agent_id := COALESCE((SELECT c.agent_id FROM conversations c WHERE c.id = NEW.conversation_id), '');
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER responses_ended BEFORE INSERT OR UPDATE OF status ON responses
    FOR EACH ROW EXECUTE FUNCTION engram_response_ended();
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
    cutoff     BIGINT NOT NULL,
    deleted    BIGINT NOT NULL,
    rows       BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (pass, project_id, agent_id, kind, cutoff)
);
CREATE INDEX retention_log_list ON retention_log(project_id, created_at, id);

-- +goose Down
DROP TABLE retention_log;
DROP INDEX responses_conversation;
DROP INDEX responses_events_expiry;
DROP INDEX responses_expiry;
DROP TRIGGER responses_ended ON responses;
DROP FUNCTION engram_response_ended();
ALTER TABLE responses DROP COLUMN events_purged;
ALTER TABLE responses DROP COLUMN agent_id;
ALTER TABLE responses DROP COLUMN ended_at;
DROP INDEX conversations_expiry;
DROP TRIGGER conversations_updated ON conversations;
DROP TRIGGER conversations_inserted ON conversations;
DROP FUNCTION engram_conversation_touched();
ALTER TABLE conversations DROP COLUMN updated_at;
ALTER TABLE projects DROP COLUMN retention;
