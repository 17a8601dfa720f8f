-- +goose Up
-- connectors are a project's named ways to reach live systems; config is
-- their settings in clear (never a credential). connector_credentials
-- holds each one's sealed secrets: the shared one (end_user '') and one per
-- end user, AES-256-GCM under the master key key_id names (see secrets/).
CREATE TABLE connectors (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id),
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    config      TEXT NOT NULL DEFAULT '{}',
    per_user    INTEGER NOT NULL DEFAULT 0,
    metadata    TEXT NOT NULL DEFAULT '{}',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (project_id, name)
);
CREATE INDEX connectors_project ON connectors(project_id, created_at, id);

CREATE TABLE connector_credentials (
    project_id   TEXT NOT NULL,
    connector_id TEXT NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,
    end_user     TEXT NOT NULL DEFAULT '',
    key_id       TEXT NOT NULL,
    sealed       BLOB NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (project_id, connector_id, end_user)
);
-- Rotation looks for the credentials not under the current key.
CREATE INDEX connector_credentials_key ON connector_credentials(key_id);

-- +goose Down
DROP INDEX connector_credentials_key;
DROP TABLE connector_credentials;
DROP INDEX connectors_project;
DROP TABLE connectors;
