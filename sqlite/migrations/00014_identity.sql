-- +goose Up
-- How a project's callers may authenticate besides its API keys
-- (engram.ProjectAuth as JSON: {} is keys only; {"jwt": {...}} also accepts
-- the JWTs of one identity provider).
ALTER TABLE projects ADD COLUMN auth TEXT NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE projects DROP COLUMN auth;
