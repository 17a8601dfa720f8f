-- +goose Up
-- memory_blocks holds each block's identity and current version;
-- memory_block_versions every version's content, so a block's history is
-- kept whole and the current block is one join on the versions' key.
-- Labels are not unique: several agents may each see a "persona" block.
CREATE TABLE memory_blocks (
    project_id TEXT NOT NULL REFERENCES projects(id),
    id         TEXT NOT NULL,
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE INDEX memory_blocks_list ON memory_blocks(project_id, created_at, id);

-- A rowid table: values run to thousands of characters, which a WITHOUT
-- ROWID table would spill onto overflow pages of its index.
CREATE TABLE memory_block_versions (
    project_id      TEXT NOT NULL,
    block_id        TEXT NOT NULL,
    version         INTEGER NOT NULL,
    label           TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    value           TEXT NOT NULL,
    limit_chars     INTEGER NOT NULL,
    read_only       INTEGER NOT NULL DEFAULT 0,
    metadata        TEXT NOT NULL DEFAULT '{}',
    edited_by       TEXT NOT NULL,
    conversation_id TEXT NOT NULL DEFAULT '',
    response_id     TEXT NOT NULL DEFAULT '',
    call_id         TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    UNIQUE (project_id, block_id, version),
    FOREIGN KEY (project_id, block_id) REFERENCES memory_blocks(project_id, id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE memory_block_versions;
DROP INDEX memory_blocks_list;
DROP TABLE memory_blocks;
