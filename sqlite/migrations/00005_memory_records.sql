-- +goose Up
-- memory_records keeps long-term memory. pk is the rowid the full-text
-- index refers to; id is the public name.
CREATE TABLE memory_records (
    pk              INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    project_id      TEXT NOT NULL REFERENCES projects(id),
    agent_id        TEXT NOT NULL DEFAULT '',
    end_user        TEXT NOT NULL DEFAULT '',
    kind            TEXT NOT NULL,
    text            TEXT NOT NULL,
    metadata        TEXT NOT NULL DEFAULT '{}',
    source          TEXT NOT NULL DEFAULT '',
    conversation_id TEXT NOT NULL DEFAULT '',
    item_ids        TEXT NOT NULL DEFAULT '[]',
    supersedes      TEXT NOT NULL DEFAULT '',
    superseded_by   TEXT NOT NULL DEFAULT '',
    occurred_at     INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    embedding_model TEXT NOT NULL DEFAULT '',
    embedding       BLOB -- little-endian float32
);
CREATE INDEX memory_records_scope ON memory_records(project_id, agent_id, end_user, created_at, id);

-- The full-text indexes hold no copy of the text (contentless) and carry,
-- besides it, a "scope" column of opaque tokens standing for the owner's
-- (project, agent, user), and for items the conversation. A search ANDs
-- the scope token with its terms, so FTS5 walks only the scope's postings
-- and ranks only its rows instead of every user's matches; the outer
-- query then checks the real columns, so a token is never trusted alone.
-- A record's scope token also says whether it is superseded, so the
-- default search needs no look-up per match to leave those out.
CREATE VIRTUAL TABLE memory_records_fts USING fts5(
    scope, text,
    content='', contentless_delete=1,
    tokenize='porter unicode61 remove_diacritics 2'
);

-- items_fts indexes the text of messages. conversation_id and seq find
-- the item in the log; items.search_rowid points back, so deleting an
-- item or a conversation removes its entries.
CREATE VIRTUAL TABLE items_fts USING fts5(
    scope, text, conversation_id UNINDEXED, seq UNINDEXED,
    content='', contentless_delete=1, contentless_unindexed=1,
    tokenize='porter unicode61 remove_diacritics 2'
);
ALTER TABLE items ADD COLUMN search_rowid INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE items DROP COLUMN search_rowid;
DROP TABLE items_fts;
DROP TABLE memory_records_fts;
DROP INDEX memory_records_scope;
DROP TABLE memory_records;
