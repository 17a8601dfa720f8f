-- +goose Up
-- audit_log: the table, indexes and append-only guard of sqlite's
-- migration 00010, with the same names and encodings, so that `engram
-- migrate` copies it as it is. details is TEXT, not jsonb: the digest is of
-- its exact bytes, which jsonb would not keep.
CREATE TABLE audit_log (
    project_id     TEXT NOT NULL REFERENCES projects(id),
    seq            BIGINT NOT NULL,
    time           BIGINT NOT NULL,
    actor          TEXT NOT NULL,
    action         TEXT NOT NULL,
    resource       TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    details        TEXT NOT NULL DEFAULT '',
    details_digest TEXT NOT NULL,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL,
    PRIMARY KEY (project_id, seq)
);
CREATE INDEX audit_log_actor ON audit_log(project_id, actor, seq);
CREATE INDEX audit_log_action ON audit_log(project_id, action, seq);
CREATE INDEX audit_log_resource ON audit_log(project_id, resource, seq);
CREATE INDEX audit_log_time ON audit_log(project_id, time, seq);

-- Append-only: changing or removing an entry (TRUNCATE included) takes
-- dropping these first, deliberate DDL, and then still breaks the chain for
-- VerifyAudit to find.
-- +goose StatementBegin
CREATE FUNCTION engram_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION engram_audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION engram_audit_append_only();

-- +goose Down
DROP TRIGGER audit_log_no_truncate ON audit_log;
DROP TRIGGER audit_log_append_only ON audit_log;
DROP FUNCTION engram_audit_append_only();
DROP TABLE audit_log;
