-- +goose Up
-- A run's claim (lease), its sleep (wake_at, Unix seconds), a request to
-- stop it, and the input of a queued run, held back until it starts so
-- that the log keeps the order the runs executed in.
ALTER TABLE responses ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE responses ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE responses ADD COLUMN wake_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE responses ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
ALTER TABLE responses ADD COLUMN pending_input TEXT NOT NULL DEFAULT '';
-- Only unfinished runs are indexed: the index stays as small as the work
-- in flight however many responses have ended.
CREATE INDEX responses_active ON responses(conversation_id, id) WHERE status IN ('queued', 'in_progress', 'requires_action');
CREATE INDEX responses_runnable ON responses(status, id) WHERE status IN ('queued', 'in_progress');
CREATE INDEX responses_list ON responses(project_id, deleted, created_at, id);

-- steps is the journal of runs. Its rows are large (a model call's whole
-- output), so it is a rowid table: a WITHOUT ROWID table keeps only about
-- a quarter of a page of a row in the tree and spills the rest onto an
-- overflow page of its own, which tripled the bytes per turn.
CREATE TABLE steps (
    response_id TEXT NOT NULL,
    n           INTEGER NOT NULL,
    project_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    status      TEXT NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (response_id, n)
);

-- response_events keeps a response's stream: one row per batch of events
-- written together (a step's), found by the last sequence number in it.
-- (A rowid table for the same reason as steps.)
CREATE TABLE response_events (
    response_id TEXT NOT NULL,
    seq_to      INTEGER NOT NULL,
    body        BLOB NOT NULL,
    PRIMARY KEY (response_id, seq_to)
);

-- +goose Down
DROP TABLE response_events;
DROP TABLE steps;
DROP INDEX responses_list;
DROP INDEX responses_runnable;
DROP INDEX responses_active;
ALTER TABLE responses DROP COLUMN pending_input;
ALTER TABLE responses DROP COLUMN cancel_requested;
ALTER TABLE responses DROP COLUMN wake_at;
ALTER TABLE responses DROP COLUMN lease_until;
ALTER TABLE responses DROP COLUMN lease_owner;
