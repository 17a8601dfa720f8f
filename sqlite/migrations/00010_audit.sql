-- +goose Up
-- audit_log: each project's hash-chained audit log (engram.AuditEntry).
-- Seqs run 1, 2, … per project with no gap; details are kept as the exact
-- bytes their digest was taken of (TEXT, '' for none).
CREATE TABLE audit_log (
    project_id     TEXT NOT NULL REFERENCES projects(id),
    seq            INTEGER NOT NULL,
    time           INTEGER NOT NULL,
    actor          TEXT NOT NULL,
    action         TEXT NOT NULL,
    resource       TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    details        TEXT NOT NULL DEFAULT '',
    details_digest TEXT NOT NULL,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL,
    PRIMARY KEY (project_id, seq)
) WITHOUT ROWID;
-- The filters GET /v1/audit serves, each in chain order. Outcome is left to
-- the scan of one of these (it splits entries in two or three).
CREATE INDEX audit_log_actor ON audit_log(project_id, actor, seq);
CREATE INDEX audit_log_action ON audit_log(project_id, action, seq);
CREATE INDEX audit_log_resource ON audit_log(project_id, resource, seq);
CREATE INDEX audit_log_time ON audit_log(project_id, time, seq);

-- Append-only: changing or removing an entry takes dropping these first,
-- deliberate DDL, and then still breaks the chain for VerifyAudit to find.
-- +goose StatementBegin
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER audit_log_no_delete;
DROP TRIGGER audit_log_no_update;
DROP TABLE audit_log;
