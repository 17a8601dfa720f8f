-- +goose Up
-- policies: the table of sqlite's migration 00012, same names and
-- encodings, so that `engram migrate` copies it as it is.
CREATE TABLE policies (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id),
    name        TEXT NOT NULL,
    text        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (project_id, name)
);
CREATE INDEX policies_list ON policies(project_id, created_at, id);

-- +goose Down
DROP TABLE policies;
