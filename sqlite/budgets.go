package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/engram-run/engram"
)

const budgetColumns = `id, project_id, scope, subject, period, max_tokens, max_cost_micro_usd, metadata, created_at, updated_at`

func scanBudget(row interface{ Scan(...any) error }) (*engram.Budget, error) {
	b := &engram.Budget{}
	var meta string
	var micro int64
	if err := row.Scan(&b.ID, &b.ProjectID, &b.Scope, &b.Subject, &b.Period, &b.MaxTokens, &micro, &meta, &b.CreatedAt, &b.UpdatedAt); err != nil {
		return nil, err
	}
	b.MaxCostUSD = float64(micro) / 1e6
	if err := json.Unmarshal([]byte(meta), &b.Metadata); err != nil {
		return nil, err
	}
	return b, nil
}

// CreateBudget implements engram.Store.
func (db *DB) CreateBudget(ctx context.Context, b *engram.Budget) error {
	if b.CreatedAt == 0 {
		b.CreatedAt = engram.Now()
	}
	b.UpdatedAt = b.CreatedAt
	meta, err := metadataJSON(b.Metadata)
	if err != nil {
		return err
	}
	return db.tx(ctx, func(tx *txConn) error {
		if err := projectExists(ctx, tx, b.ProjectID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO budgets (`+budgetColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			b.ID, b.ProjectID, b.Scope, b.Subject, b.Period, b.MaxTokens, b.MaxCostMicroUSD(), meta, b.CreatedAt, b.UpdatedAt)
		return mapErr(err)
	})
}

// GetBudget implements engram.Store.
func (db *DB) GetBudget(ctx context.Context, projectID, id string) (*engram.Budget, error) {
	b, err := scanBudget(db.r.QueryRowContext(ctx, `SELECT `+budgetColumns+` FROM budgets WHERE project_id = ? AND id = ?`, projectID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("budget", id)
	}
	return b, err
}

// ListBudgets implements engram.Store.
func (db *DB) ListBudgets(ctx context.Context, projectID string) ([]*engram.Budget, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+budgetColumns+` FROM budgets WHERE project_id = ? ORDER BY created_at, id`, projectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*engram.Budget{}
	for rows.Next() {
		b, err := scanBudget(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// UpdateBudget implements engram.Store.
func (db *DB) UpdateBudget(ctx context.Context, b *engram.Budget) error {
	b.UpdatedAt = engram.Now()
	meta, err := metadataJSON(b.Metadata)
	if err != nil {
		return err
	}
	return db.changeOne(ctx, "budget", b.ID, `UPDATE budgets SET period = ?, max_tokens = ?, max_cost_micro_usd = ?, metadata = ?, updated_at = ?
			WHERE project_id = ? AND id = ?`, b.Period, b.MaxTokens, b.MaxCostMicroUSD(), meta, b.UpdatedAt, b.ProjectID, b.ID)
}

// DeleteBudget implements engram.Store.
func (db *DB) DeleteBudget(ctx context.Context, projectID, id string) error {
	return db.changeOne(ctx, "budget", id, `DELETE FROM budgets WHERE project_id = ? AND id = ?`, projectID, id)
}
