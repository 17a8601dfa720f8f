-- +goose Up
-- The column of sqlite's migration 00014, with the same name and encoding,
-- so that `engram migrate` copies it as it is: how a project's callers may
-- authenticate besides its API keys (engram.ProjectAuth as JSON).
ALTER TABLE projects ADD COLUMN auth TEXT NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE projects DROP COLUMN auth;
