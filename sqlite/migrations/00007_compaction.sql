-- +goose Up
-- A window starts at the newest compaction item of its log: the few there
-- are are found without reading the log.
CREATE INDEX items_compactions ON items(conversation_id, seq) WHERE type = 'compaction' AND deleted = 0;

-- +goose Down
DROP INDEX items_compactions;
