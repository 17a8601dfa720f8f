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

-- memory_scopes numbers each (project, agent, user) that has records. A
-- record's pk is its scope's number times 2^32 plus the scope's count of
-- records so far, so a scope's records are one range of rowids, which is
-- how a search confines FTS5 to them: FTS5 seeks a rowid range in each
-- posting list and walks nothing outside it. records and terms count the
-- scope's records and their words, for BM25's statistics of the scope: a
-- word common among other users' records may still tell one user's
-- records apart.
CREATE TABLE memory_scopes (
    id         INTEGER PRIMARY KEY,
    project_id TEXT NOT NULL,
    agent_id   TEXT NOT NULL,
    end_user   TEXT NOT NULL,
    last       INTEGER NOT NULL,
    records    INTEGER NOT NULL DEFAULT 0,
    terms      INTEGER NOT NULL DEFAULT 0,
    UNIQUE (project_id, agent_id, end_user)
);

-- memory_record_terms holds the number of words of each record's text,
-- BM25's document length, apart from the records: a search reads it for
-- hundreds of candidates, and in this narrow table they share a few pages
-- where the records' rows would be spread over hundreds.
CREATE TABLE memory_record_terms (
    pk    INTEGER PRIMARY KEY,
    terms INTEGER NOT NULL
);

-- The full-text indexes hold no copy of the text (contentless). In
-- memory_records_fts, the "flags" column holds the token "1" when the
-- record is superseded, so a search leaves those out in FTS5 itself.
CREATE VIRTUAL TABLE memory_records_fts USING fts5(
    text, flags,
    content='', contentless_delete=1,
    tokenize='porter unicode61 remove_diacritics 2'
);

-- items_fts indexes the text of messages. Its "scope" column holds opaque
-- tokens standing for the conversation's (project, agent, user) and for
-- the conversation, which a search ANDs with its terms (and NOTs, for the
-- excluded conversation) so that FTS5 ranks only the scope's postings; the
-- outer query then checks the real columns, so a token is never trusted
-- alone. conversation_id and seq find the item in the log;
-- items.search_rowid points back, so deleting an item or a conversation
-- removes its entries.
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
DROP TABLE memory_record_terms;
DROP TABLE memory_scopes;
DROP INDEX memory_records_scope;
DROP TABLE memory_records;
