package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/engram-run/engram"
)

const policyColumns = `id, project_id, name, text, description, created_at, updated_at`

func scanPolicy(row interface{ Scan(...any) error }) (*engram.Policy, error) {
	p := &engram.Policy{}
	err := row.Scan(&p.ID, &p.ProjectID, &p.Name, &p.Text, &p.Description, &p.CreatedAt, &p.UpdatedAt)
	return p, err
}

// policyConflict names the field a unique constraint refused.
func policyConflict(err error, name string) error {
	if engram.ErrorCode(err) == engram.EConflict {
		return engram.ParamErrorf(engram.EConflict, "name", "a policy named %q already exists", name)
	}
	return err
}

// CreatePolicy implements engram.Store.
func (db *DB) CreatePolicy(ctx context.Context, p *engram.Policy) error {
	if p.ID == "" {
		p.ID = engram.NewID("pol")
	}
	if p.CreatedAt == 0 {
		p.CreatedAt = engram.Now()
	}
	p.UpdatedAt = p.CreatedAt
	return db.tx(ctx, func(tx *txConn) error {
		if err := projectExists(ctx, tx, p.ProjectID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO policies (`+policyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			p.ID, p.ProjectID, p.Name, p.Text, p.Description, p.CreatedAt, p.UpdatedAt)
		return policyConflict(mapErr(err), p.Name)
	})
}

// GetPolicy implements engram.Store.
func (db *DB) GetPolicy(ctx context.Context, projectID, idOrName string) (*engram.Policy, error) {
	p, err := scanPolicy(db.r.QueryRowContext(ctx, `SELECT `+policyColumns+` FROM policies WHERE project_id = ? AND (id = ? OR name = ?)
		ORDER BY id = ? DESC LIMIT 1`, projectID, idOrName, idOrName, idOrName))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("policy", idOrName)
	}
	return p, err
}

// ListPolicies implements engram.Store.
func (db *DB) ListPolicies(ctx context.Context, projectID string) ([]*engram.Policy, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+policyColumns+` FROM policies WHERE project_id = ? ORDER BY created_at, id`, projectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*engram.Policy
	for rows.Next() {
		p, err := scanPolicy(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// UpdatePolicy implements engram.Store.
func (db *DB) UpdatePolicy(ctx context.Context, p *engram.Policy) error {
	p.UpdatedAt = engram.Now()
	return db.tx(ctx, func(tx *txConn) error {
		res, err := tx.ExecContext(ctx, `UPDATE policies SET name = ?, text = ?, description = ?, updated_at = ? WHERE project_id = ? AND id = ?`,
			p.Name, p.Text, p.Description, p.UpdatedAt, p.ProjectID, p.ID)
		if err != nil {
			return policyConflict(mapErr(err), p.Name)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("policy", p.ID)
		}
		return tx.QueryRowContext(ctx, `SELECT created_at FROM policies WHERE id = ?`, p.ID).Scan(&p.CreatedAt)
	})
}

// DeletePolicy implements engram.Store.
func (db *DB) DeletePolicy(ctx context.Context, projectID, id string) error {
	return db.changeOne(ctx, "policy", id, `DELETE FROM policies WHERE project_id = ? AND id = ?`, projectID, id)
}
