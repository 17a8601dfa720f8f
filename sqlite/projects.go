package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/engram-run/engram"
)

// CreateProject implements engram.Store.
func (db *DB) CreateProject(ctx context.Context, p *engram.Project) error {
	return db.tx(ctx, func(tx *txConn) error { return insertProject(ctx, tx, p) })
}

// CreateProjectWithKey implements engram.Store.
func (db *DB) CreateProjectWithKey(ctx context.Context, p *engram.Project, k *engram.APIKey) error {
	k.ProjectID = p.ID
	return db.tx(ctx, func(tx *txConn) error {
		if err := insertProject(ctx, tx, p); err != nil {
			return err
		}
		return insertKey(ctx, tx, k)
	})
}

func insertProject(ctx context.Context, tx *txConn, p *engram.Project) error {
	retention, err := json.Marshal(p.Retention)
	if err != nil {
		return err
	}
	auth, err := json.Marshal(p.Auth)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO projects (id, name, retention, auth, created_at) VALUES (?, ?, ?, ?, ?)`, p.ID, p.Name, retention, auth, p.CreatedAt)
	return err
}

// UpdateProject implements engram.Store.
func (db *DB) UpdateProject(ctx context.Context, p *engram.Project) error {
	retention, err := json.Marshal(p.Retention)
	if err != nil {
		return err
	}
	auth, err := json.Marshal(p.Auth)
	if err != nil {
		return err
	}
	return db.changeOne(ctx, "project", p.ID, `UPDATE projects SET name = ?, retention = ?, auth = ? WHERE id = ?`, p.Name, retention, auth, p.ID)
}

const projectColumns = `id, name, retention, auth, created_at`

func scanProject(s interface{ Scan(...any) error }) (*engram.Project, error) {
	p := &engram.Project{}
	var retention, auth []byte
	if err := s.Scan(&p.ID, &p.Name, &retention, &auth, &p.CreatedAt); err != nil {
		return nil, err
	}
	p.Retention = engram.StoredRetention(retention)
	p.Auth = engram.StoredProjectAuth(auth)
	return p, nil
}

// GetProject implements engram.Store.
func (db *DB) GetProject(ctx context.Context, id string) (*engram.Project, error) {
	p, err := scanProject(db.r.QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("project", id)
	}
	return p, err
}

// ListProjects implements engram.Store.
func (db *DB) ListProjects(ctx context.Context) ([]*engram.Project, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+projectColumns+` FROM projects ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*engram.Project
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// CreateAPIKey implements engram.Store.
func (db *DB) CreateAPIKey(ctx context.Context, k *engram.APIKey) error {
	return db.tx(ctx, func(tx *txConn) error {
		if err := projectExists(ctx, tx, k.ProjectID); err != nil {
			return err
		}
		return insertKey(ctx, tx, k)
	})
}

func insertKey(ctx context.Context, tx *txConn, k *engram.APIKey) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, project_id, name, prefix, hash, role, end_user, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.ProjectID, k.Name, k.Prefix, k.Hash, string(k.Role), k.User, k.CreatedAt)
	return err
}

func projectExists(ctx context.Context, tx *txConn, id string) error {
	var one int
	if err := tx.QueryRowContext(ctx, `SELECT 1 FROM projects WHERE id = ?`, id).Scan(&one); errors.Is(err, sql.ErrNoRows) {
		return notFound("project", id)
	} else if err != nil {
		return err
	}
	return nil
}

const keyColumns = `id, project_id, name, prefix, hash, role, end_user, created_at, revoked_at`

func scanKey(s interface{ Scan(...any) error }) (*engram.APIKey, error) {
	k := &engram.APIKey{}
	var role string
	err := s.Scan(&k.ID, &k.ProjectID, &k.Name, &k.Prefix, &k.Hash, &role, &k.User, &k.CreatedAt, &k.RevokedAt)
	k.Role = engram.Role(role)
	return k, err
}

// FindAPIKey implements engram.Store.
func (db *DB) FindAPIKey(ctx context.Context, hash string) (*engram.APIKey, error) {
	k, err := scanKey(db.r.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE hash = ? AND revoked_at = 0`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, engram.Errorf(engram.ENotFound, "API key not found")
	}
	return k, err
}

// ListAPIKeys implements engram.Store.
func (db *DB) ListAPIKeys(ctx context.Context, projectID string) ([]*engram.APIKey, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE project_id = ? ORDER BY created_at, id`, projectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*engram.APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeAPIKey implements engram.Store.
func (db *DB) RevokeAPIKey(ctx context.Context, projectID, id string) error {
	return db.tx(ctx, func(tx *txConn) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE project_id = ? AND id = ? AND revoked_at = 0`, engram.Now(), projectID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("API key", id)
		}
		return nil
	})
}

// CreateAgent implements engram.Store.
func (db *DB) CreateAgent(ctx context.Context, a *engram.Agent) error {
	a.Version = 1
	if a.CreatedAt == 0 {
		a.CreatedAt = engram.Now()
	}
	a.UpdatedAt = a.CreatedAt
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return db.tx(ctx, func(tx *txConn) error {
		if err := projectExists(ctx, tx, a.ProjectID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO agents (id, project_id, name, version, created_at, updated_at) VALUES (?, ?, ?, 1, ?, ?)`,
			a.ID, a.ProjectID, a.Name, a.CreatedAt, a.UpdatedAt); err != nil {
			if engram.ErrorCode(mapErr(err)) == engram.EConflict {
				return engram.ParamErrorf(engram.EConflict, "name", "an agent named %q already exists", a.Name)
			}
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO agent_versions (agent_id, version, body, created_at) VALUES (?, 1, ?, ?)`, a.ID, body, a.CreatedAt)
		return err
	})
}

// UpdateAgent implements engram.Store.
func (db *DB) UpdateAgent(ctx context.Context, a *engram.Agent) error {
	return db.tx(ctx, func(tx *txConn) error {
		var version int
		var created int64
		err := tx.QueryRowContext(ctx, `SELECT version, created_at FROM agents WHERE project_id = ? AND id = ?`, a.ProjectID, a.ID).Scan(&version, &created)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("agent", a.ID)
		} else if err != nil {
			return err
		}
		a.Version, a.CreatedAt, a.UpdatedAt = version+1, created, engram.Now()
		body, err := json.Marshal(a)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE agents SET version = ?, name = ?, updated_at = ? WHERE id = ?`, a.Version, a.Name, a.UpdatedAt, a.ID); err != nil {
			if engram.ErrorCode(mapErr(err)) == engram.EConflict {
				return engram.ParamErrorf(engram.EConflict, "name", "an agent named %q already exists", a.Name)
			}
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO agent_versions (agent_id, version, body, created_at) VALUES (?, ?, ?, ?)`, a.ID, a.Version, body, a.UpdatedAt)
		return err
	})
}

// agentID resolves an id or a name to the agent's id and latest version.
func agentID(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, projectID, idOrName string) (string, int, error) {
	var id string
	var version int
	err := q.QueryRowContext(ctx, `SELECT id, version FROM agents WHERE project_id = ? AND (id = ? OR name = ?) ORDER BY id = ? DESC LIMIT 1`,
		projectID, idOrName, idOrName, idOrName).Scan(&id, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, notFound("agent", idOrName)
	}
	return id, version, err
}

func scanAgent(body []byte, projectID string) (*engram.Agent, error) {
	a := &engram.Agent{}
	if err := json.Unmarshal(body, a); err != nil {
		return nil, err
	}
	a.ProjectID = projectID
	return a, nil
}

// GetAgent implements engram.Store.
func (db *DB) GetAgent(ctx context.Context, projectID, idOrName string, version int) (*engram.Agent, error) {
	id, latest, err := agentID(ctx, db.r, projectID, idOrName)
	if err != nil {
		return nil, err
	}
	if version == 0 {
		version = latest
	}
	var body []byte
	err = db.r.QueryRowContext(ctx, `SELECT body FROM agent_versions WHERE agent_id = ? AND version = ?`, id, version).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, engram.Errorf(engram.ENotFound, "agent %s has no version %d", idOrName, version)
	} else if err != nil {
		return nil, err
	}
	return scanAgent(body, projectID)
}

// ListAgents implements engram.Store.
func (db *DB) ListAgents(ctx context.Context, projectID string, page engram.Page) ([]*engram.Agent, bool, error) {
	q := `SELECT v.body FROM agents a JOIN agent_versions v ON v.agent_id = a.id AND v.version = a.version WHERE a.project_id = ?`
	args := []any{projectID}
	q, args, backwards := pageQuery(q, args, agentOrder, page)
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var out []*engram.Agent
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			return nil, false, err
		}
		a, err := scanAgent(body, projectID)
		if err != nil {
			return nil, false, err
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	out, more := engram.FinishPage(out, page, backwards)
	return out, more, nil
}

// ListAgentVersions implements engram.Store.
func (db *DB) ListAgentVersions(ctx context.Context, projectID, idOrName string) ([]*engram.Agent, error) {
	id, _, err := agentID(ctx, db.r, projectID, idOrName)
	if err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT body FROM agent_versions WHERE agent_id = ? ORDER BY version`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*engram.Agent
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		a, err := scanAgent(body, projectID)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// DeleteAgent implements engram.Store.
func (db *DB) DeleteAgent(ctx context.Context, projectID, idOrName string) error {
	return db.tx(ctx, func(tx *txConn) error {
		id, _, err := agentID(ctx, tx, projectID, idOrName)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM agents WHERE id = ?`, id)
		return err
	})
}
