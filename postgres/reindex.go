package postgres

import (
	"context"
	"encoding/json"

	"github.com/engram-run/engram"
	"github.com/jackc/pgx/v5"
)

// reindexBatch is how many rows one statement of Reindex rebuilds, so
// that each stays far below the statement timeout.
const reindexBatch = 5000

// Reindex rebuilds every derived search structure from the base rows:
// the records' per-scope statistics and postings (and pgvector's column,
// when there is one), the records' pk sequence, and items.search_text of
// live messages where it is empty. `engram migrate` copies sqlite's base
// tables as they are and then calls it; running it again changes nothing.
//
// The records' structures are rebuilt in one transaction, which holds
// their tables' locks until it ends: searches and writes of records wait
// for it rather than see half of them.
func (db *DB) Reindex(ctx context.Context) error {
	err := db.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE memory_records IN SHARE MODE`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `TRUNCATE memory_search_scopes, memory_search_terms, memory_search_postings`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence('memory_records', 'pk'), coalesce(max(pk), 0) + 1, false) FROM memory_records`); err != nil {
			return err
		}
		for after := int64(-1 << 63); ; {
			var pks []int64
			if err := tx.QueryRow(ctx, `SELECT coalesce(array_agg(pk ORDER BY pk), '{}') FROM
				(SELECT pk FROM memory_records WHERE pk > $1 ORDER BY pk LIMIT $2) r`, after, reindexBatch).Scan(&pks); err != nil {
				return err
			}
			if len(pks) == 0 {
				break
			}
			if _, err := tx.Exec(ctx, indexRecords, pks); err != nil {
				return err
			}
			after = pks[len(pks)-1]
		}
		if db.hasVectorColumn(ctx) {
			return fillVectorColumn(ctx, tx)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return db.reindexItems(ctx)
}

// reindexItems fills items.search_text from each live message's body,
// where it is empty, a batch per transaction (filling is idempotent, so
// an interrupted run is finished by the next). The text is the one
// AppendItems stores (searchText), so a copied log searches as one
// written here.
func (db *DB) reindexItems(ctx context.Context) error {
	type key struct {
		conv string
		seq  int64
	}
	after := key{}
	for {
		var batch []key
		var texts []string
		err := db.tx(ctx, func(tx pgx.Tx) error {
			batch, texts = batch[:0], texts[:0]
			rows, err := tx.Query(ctx, `SELECT i.conversation_id, i.seq, i.body FROM items i
				WHERE (i.conversation_id, i.seq) > ($1, $2) AND i.type = 'message' AND i.deleted = 0 AND i.search_text = ''
					AND EXISTS (SELECT 1 FROM conversations c WHERE c.id = i.conversation_id AND c.deleted = 0)
				ORDER BY i.conversation_id, i.seq LIMIT $3`, after.conv, after.seq, reindexBatch)
			if err != nil {
				return err
			}
			var k key
			var body []byte
			if _, err := pgx.ForEachRow(rows, []any{&k.conv, &k.seq, &body}, func() error {
				var it engram.Item
				if err := json.Unmarshal(body, &it); err != nil {
					return err
				}
				batch = append(batch, k)
				texts = append(texts, searchText(&it))
				return nil
			}); err != nil {
				return err
			}
			convs := make([]string, len(batch))
			seqs := make([]int64, len(batch))
			for i, b := range batch {
				convs[i], seqs[i] = b.conv, b.seq
			}
			_, err = tx.Exec(ctx, `UPDATE items i SET search_text = u.text
				FROM unnest($1::text[], $2::bigint[], $3::text[]) u(conversation_id, seq, text)
				WHERE i.conversation_id = u.conversation_id AND i.seq = u.seq AND u.text <> '' AND i.search_text = ''`, convs, seqs, texts)
			return err
		})
		if err != nil {
			return err
		}
		if len(batch) < reindexBatch {
			return nil
		}
		after = batch[len(batch)-1]
	}
}
