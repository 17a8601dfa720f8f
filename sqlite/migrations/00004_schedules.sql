-- +goose Up
-- schedules start responses at cron times. next_fire_at (Unix seconds, 0
-- for never) is what schedulers compare-and-set to own a fire; the index
-- finds the due ones without reading the rest.
CREATE TABLE schedules (
    id               TEXT PRIMARY KEY,
    project_id       TEXT NOT NULL REFERENCES projects(id),
    name             TEXT NOT NULL DEFAULT '',
    agent            TEXT NOT NULL,
    cron             TEXT NOT NULL,
    timezone         TEXT NOT NULL,
    conversation     TEXT NOT NULL DEFAULT '',
    input            TEXT NOT NULL,
    catch_up         TEXT NOT NULL,
    paused           INTEGER NOT NULL DEFAULT 0,
    next_fire_at     INTEGER NOT NULL DEFAULT 0,
    last_fire_at     INTEGER NOT NULL DEFAULT 0,
    last_response_id TEXT NOT NULL DEFAULT '',
    last_error       TEXT NOT NULL DEFAULT '',
    metadata         TEXT NOT NULL DEFAULT '{}',
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX schedules_project ON schedules(project_id, created_at, id);
CREATE INDEX schedules_due ON schedules(paused, next_fire_at);

-- +goose Down
DROP INDEX schedules_due;
DROP INDEX schedules_project;
DROP TABLE schedules;
