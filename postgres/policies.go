package postgres

import (
	"context"
	"errors"

	"github.com/engram-run/engram"
	"github.com/jackc/pgx/v5"
)

const policyColumns = `id, project_id, name, text, description, created_at, updated_at`

func scanPolicy(row pgx.Row) (*engram.Policy, error) {
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
	return db.tx(ctx, func(tx pgx.Tx) error {
		if err := projectExists(ctx, tx, p.ProjectID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO policies (`+policyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			p.ID, p.ProjectID, pgText(p.Name), pgText(p.Text), pgText(p.Description), p.CreatedAt, p.UpdatedAt)
		return policyConflict(mapErr(err), p.Name)
	})
}

// GetPolicy implements engram.Store.
func (db *DB) GetPolicy(ctx context.Context, projectID, idOrName string) (*engram.Policy, error) {
	p, err := scanPolicy(db.pool.QueryRow(ctx, `SELECT `+policyColumns+` FROM policies WHERE project_id = $1 AND (id = $2 OR name = $2)
		ORDER BY id = $2 DESC LIMIT 1`, projectID, idOrName))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("policy", idOrName)
	}
	return p, mapErr(err)
}

// ListPolicies implements engram.Store.
func (db *DB) ListPolicies(ctx context.Context, projectID string) ([]*engram.Policy, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+policyColumns+` FROM policies WHERE project_id = $1 ORDER BY created_at, id`, projectID)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []*engram.Policy
	for rows.Next() {
		p, err := scanPolicy(rows)
		if err != nil {
			return nil, mapErr(err)
		}
		out = append(out, p)
	}
	return out, mapErr(rows.Err())
}

// UpdatePolicy implements engram.Store.
func (db *DB) UpdatePolicy(ctx context.Context, p *engram.Policy) error {
	p.UpdatedAt = engram.Now()
	return db.tx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE policies SET name = $1, text = $2, description = $3, updated_at = $4 WHERE project_id = $5 AND id = $6
			RETURNING created_at`, pgText(p.Name), pgText(p.Text), pgText(p.Description), p.UpdatedAt, p.ProjectID, p.ID).Scan(&p.CreatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("policy", p.ID)
		}
		return policyConflict(mapErr(err), p.Name)
	})
}

// DeletePolicy implements engram.Store.
func (db *DB) DeletePolicy(ctx context.Context, projectID, id string) error {
	return db.changeOne(ctx, "policy", id, `DELETE FROM policies WHERE project_id = $1 AND id = $2`, projectID, id)
}
