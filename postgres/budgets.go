package postgres

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/engram-run/engram"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const budgetColumns = `id, project_id, scope, subject, period, max_tokens, max_cost_micro_usd, metadata, created_at, updated_at`

func scanBudget(row pgx.Row) (*engram.Budget, error) {
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
	return db.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO budgets (`+budgetColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			b.ID, b.ProjectID, b.Scope, b.Subject, b.Period, b.MaxTokens, b.MaxCostMicroUSD(), meta, b.CreatedAt, b.UpdatedAt)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23503" { // foreign key: the project
			return notFound("project", b.ProjectID)
		}
		return err
	})
}

// GetBudget implements engram.Store.
func (db *DB) GetBudget(ctx context.Context, projectID, id string) (*engram.Budget, error) {
	b, err := scanBudget(db.pool.QueryRow(ctx, `SELECT `+budgetColumns+` FROM budgets WHERE project_id = $1 AND id = $2`, projectID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("budget", id)
	}
	return b, mapErr(err)
}

// ListBudgets implements engram.Store.
func (db *DB) ListBudgets(ctx context.Context, projectID string) ([]*engram.Budget, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+budgetColumns+` FROM budgets WHERE project_id = $1 ORDER BY created_at, id`, projectID)
	if err != nil {
		return nil, mapErr(err)
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
	return out, mapErr(rows.Err())
}

// UpdateBudget implements engram.Store.
func (db *DB) UpdateBudget(ctx context.Context, b *engram.Budget) error {
	b.UpdatedAt = engram.Now()
	meta, err := metadataJSON(b.Metadata)
	if err != nil {
		return err
	}
	return db.changeOne(ctx, "budget", b.ID, `UPDATE budgets SET period = $1, max_tokens = $2, max_cost_micro_usd = $3, metadata = $4, updated_at = $5
			WHERE project_id = $6 AND id = $7`, b.Period, b.MaxTokens, b.MaxCostMicroUSD(), meta, b.UpdatedAt, b.ProjectID, b.ID)
}

// DeleteBudget implements engram.Store.
func (db *DB) DeleteBudget(ctx context.Context, projectID, id string) error {
	return db.changeOne(ctx, "budget", id, `DELETE FROM budgets WHERE project_id = $1 AND id = $2`, projectID, id)
}
