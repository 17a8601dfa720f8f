-- +goose Up
-- One row per conversation whose agent extracts memories: where extraction
-- stands and when the next pass is due. Passes claim rows by lease, like
-- runs, so two nodes never extract one range twice at once.
CREATE TABLE extractions (
    conversation_id TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL,
    agent_id        TEXT NOT NULL DEFAULT '',
    end_user        TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL,
    through_seq     INTEGER NOT NULL DEFAULT 0,
    last_seq        INTEGER NOT NULL DEFAULT 0,
    pending_turns   INTEGER NOT NULL DEFAULT 0,
    due_at          INTEGER NOT NULL DEFAULT 0,
    records         INTEGER NOT NULL DEFAULT 0,
    passes          INTEGER NOT NULL DEFAULT 0,
    failures        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    lease_owner     TEXT NOT NULL DEFAULT '',
    lease_until     INTEGER NOT NULL DEFAULT 0,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX extractions_due ON extractions(due_at) WHERE status IN ('pending', 'failed', 'running');

-- +goose Down
DROP TABLE extractions;
