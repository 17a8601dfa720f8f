package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/engram-run/engram"
)

// blockSelect reads blocks at their current version: b is memory_blocks,
// v the version it points at.
const blockSelect = `SELECT b.id, b.project_id, v.label, v.description, v.value, v.limit_chars, v.read_only, b.version, v.metadata,
	v.edited_by, v.conversation_id, v.response_id, v.call_id, b.created_at, b.updated_at
	FROM memory_blocks b JOIN memory_block_versions v ON v.project_id = b.project_id AND v.block_id = b.id AND v.version = b.version`

func scanBlock(row interface{ Scan(...any) error }) (*engram.MemoryBlock, error) {
	b := &engram.MemoryBlock{}
	var meta string
	err := row.Scan(&b.ID, &b.ProjectID, &b.Label, &b.Description, &b.Value, &b.Limit, &b.ReadOnly, &b.Version, &meta,
		&b.EditedBy, &b.ConversationID, &b.ResponseID, &b.CallID, &b.CreatedAt, &b.UpdatedAt)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(meta), &b.Metadata); err != nil {
		return nil, err
	}
	return b, nil
}

func (db *DB) queryBlocks(ctx context.Context, q string, args ...any) ([]*engram.MemoryBlock, error) {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*engram.MemoryBlock
	for rows.Next() {
		b, err := scanBlock(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

func insertBlockVersion(ctx context.Context, tx *txConn, b *engram.MemoryBlock, meta string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO memory_block_versions (project_id, block_id, version, label, description, value, limit_chars,
		read_only, metadata, edited_by, conversation_id, response_id, call_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		b.ProjectID, b.ID, b.Version, b.Label, b.Description, b.Value, b.Limit, boolInt(b.ReadOnly), meta,
		b.EditedBy, b.ConversationID, b.ResponseID, b.CallID, b.UpdatedAt)
	return err
}

// CreateBlock implements engram.BlockStore.
func (db *DB) CreateBlock(ctx context.Context, b *engram.MemoryBlock) error {
	if err := b.Check(); err != nil {
		return err
	}
	if b.ID == "" {
		b.ID = engram.NewID("blk")
	}
	if b.Metadata == nil {
		b.Metadata = map[string]string{}
	}
	if b.CreatedAt == 0 {
		b.CreatedAt = engram.Now()
	}
	b.Version, b.UpdatedAt = 1, b.CreatedAt
	meta, err := metadataJSON(b.Metadata)
	if err != nil {
		return err
	}
	return db.tx(ctx, func(tx *txConn) error {
		if err := projectExists(ctx, tx, b.ProjectID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO memory_blocks (project_id, id, version, created_at, updated_at) VALUES (?, ?, 1, ?, ?)`,
			b.ProjectID, b.ID, b.CreatedAt, b.UpdatedAt); err != nil {
			return mapErr(err)
		}
		return insertBlockVersion(ctx, tx, b, meta)
	})
}

// GetBlock implements engram.BlockStore.
func (db *DB) GetBlock(ctx context.Context, projectID, id string) (*engram.MemoryBlock, error) {
	b, err := scanBlock(db.r.QueryRowContext(ctx, blockSelect+` WHERE b.project_id = ? AND b.id = ?`, projectID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("memory block", id)
	}
	return b, err
}

// GetBlocks implements engram.BlockStore. The ids travel as one JSON array
// so that every call, whatever its length, runs the same cached statement,
// and the array's own index gives the order asked for.
func (db *DB) GetBlocks(ctx context.Context, projectID string, ids []string) ([]*engram.MemoryBlock, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	return db.queryBlocks(ctx, `SELECT b.id, b.project_id, v.label, v.description, v.value, v.limit_chars, v.read_only, b.version, v.metadata,
		v.edited_by, v.conversation_id, v.response_id, v.call_id, b.created_at, b.updated_at
		FROM json_each(?) j
		JOIN memory_blocks b ON b.project_id = ? AND b.id = j.value
		JOIN memory_block_versions v ON v.project_id = b.project_id AND v.block_id = b.id AND v.version = b.version
		ORDER BY j.key`, string(list), projectID)
}

// blockOrder pages a project's blocks by (created_at, id). Its cursor looks
// the id up within the project, which the table's key serves.
func blockOrder(projectID string) listOrder {
	return listOrder{
		columns: []string{"b.created_at", "b.id"},
		cursor: func(id, fallback string) (string, []any) {
			return `(COALESCE((SELECT created_at FROM memory_blocks WHERE project_id = ? AND id = ?), ` + fallback + `), ?)`, []any{projectID, id, id}
		},
	}
}

// ListBlocks implements engram.BlockStore.
func (db *DB) ListBlocks(ctx context.Context, projectID string, page engram.Page) ([]*engram.MemoryBlock, bool, error) {
	q, args, backwards := pageQuery(blockSelect+` WHERE b.project_id = ?`, []any{projectID}, blockOrder(projectID), page)
	out, err := db.queryBlocks(ctx, q, args...)
	if err != nil {
		return nil, false, err
	}
	out, more := engram.FinishPage(out, page, backwards)
	return out, more, nil
}

// UpdateBlock implements engram.BlockStore. b holds the whole new state;
// Version, CreatedAt and UpdatedAt are set from the store.
func (db *DB) UpdateBlock(ctx context.Context, b *engram.MemoryBlock, expectVersion int) error {
	if err := b.Check(); err != nil {
		return err
	}
	if b.Metadata == nil {
		b.Metadata = map[string]string{}
	}
	meta, err := metadataJSON(b.Metadata)
	if err != nil {
		return err
	}
	return db.tx(ctx, func(tx *txConn) error {
		var version int
		var created int64
		var readOnly bool
		err := tx.QueryRowContext(ctx, `SELECT b.version, b.created_at, v.read_only FROM memory_blocks b
			JOIN memory_block_versions v ON v.project_id = b.project_id AND v.block_id = b.id AND v.version = b.version
			WHERE b.project_id = ? AND b.id = ?`, b.ProjectID, b.ID).Scan(&version, &created, &readOnly)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("memory block", b.ID)
		} else if err != nil {
			return err
		}
		// Read-only guards the stored block, whatever the edit asks for:
		// an agent cannot unlock a block by clearing the flag itself.
		if readOnly && b.EditedBy == engram.EditedByAgent {
			return engram.Errorf(engram.EInvalid, "memory block %q is read-only: agents cannot edit it", b.Label)
		}
		if version != expectVersion {
			return engram.ParamErrorf(engram.EConflict, "expected_version", "memory block %s is at version %d, not %d: it changed since it was read", b.ID, version, expectVersion)
		}
		b.Version, b.CreatedAt, b.UpdatedAt = version+1, created, engram.Now()
		if _, err := tx.ExecContext(ctx, `UPDATE memory_blocks SET version = ?, updated_at = ? WHERE project_id = ? AND id = ?`,
			b.Version, b.UpdatedAt, b.ProjectID, b.ID); err != nil {
			return err
		}
		return insertBlockVersion(ctx, tx, b, meta)
	})
}

// ListBlockVersions implements engram.BlockStore: oldest first, each with
// UpdatedAt the time of that version.
func (db *DB) ListBlockVersions(ctx context.Context, projectID, id string) ([]*engram.MemoryBlock, error) {
	out, err := db.queryBlocks(ctx, `SELECT b.id, b.project_id, v.label, v.description, v.value, v.limit_chars, v.read_only, v.version, v.metadata,
		v.edited_by, v.conversation_id, v.response_id, v.call_id, b.created_at, v.created_at
		FROM memory_blocks b JOIN memory_block_versions v ON v.project_id = b.project_id AND v.block_id = b.id
		WHERE b.project_id = ? AND b.id = ? ORDER BY v.version`, projectID, id)
	if err == nil && len(out) == 0 {
		return nil, notFound("memory block", id)
	}
	return out, err
}

// DeleteBlock implements engram.BlockStore. Its versions go with it; agents
// that still name it simply no longer see it.
func (db *DB) DeleteBlock(ctx context.Context, projectID, id string) error {
	return db.changeOne(ctx, "memory block", id, `DELETE FROM memory_blocks WHERE project_id = ? AND id = ?`, projectID, id)
}
