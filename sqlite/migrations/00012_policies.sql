-- +goose Up
-- policies: a project's Cedar policy documents (engram.Policy). Names are
-- unique per project (a file applied again replaces its policy); the list
-- index serves the compiler, which reads a project's policies oldest first.
CREATE TABLE policies (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id),
    name        TEXT NOT NULL,
    text        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (project_id, name)
);
CREATE INDEX policies_list ON policies(project_id, created_at, id);

-- +goose Down
DROP TABLE policies;
