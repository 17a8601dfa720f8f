package postgres

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/engram-run/engram"
	"github.com/jackc/pgx/v5"
)

// CreateProject implements engram.Store.
func (db *DB) CreateProject(ctx context.Context, p *engram.Project) error {
	return db.tx(ctx, func(tx pgx.Tx) error { return insertProject(ctx, tx, p) })
}

// CreateProjectWithKey implements engram.Store.
func (db *DB) CreateProjectWithKey(ctx context.Context, p *engram.Project, k *engram.APIKey) error {
	k.ProjectID = p.ID
	return db.tx(ctx, func(tx pgx.Tx) error {
		if err := insertProject(ctx, tx, p); err != nil {
			return err
		}
		return insertKey(ctx, tx, k)
	})
}

func insertProject(ctx context.Context, tx pgx.Tx, p *engram.Project) error {
	retention, err := json.Marshal(p.Retention)
	if err != nil {
		return err
	}
	auth, err := json.Marshal(p.Auth)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO projects (id, name, retention, auth, created_at) VALUES ($1, $2, $3, $4, $5)`, p.ID, p.Name, string(retention), string(auth), p.CreatedAt)
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
	return db.changeOne(ctx, "project", p.ID, `UPDATE projects SET name = $1, retention = $2, auth = $3 WHERE id = $4`, p.Name, string(retention), string(auth), p.ID)
}

const projectColumns = `id, name, retention, auth, created_at`

func scanProject(s pgx.Row) (*engram.Project, error) {
	p := &engram.Project{}
	var retention, auth string
	if err := s.Scan(&p.ID, &p.Name, &retention, &auth, &p.CreatedAt); err != nil {
		return nil, err
	}
	p.Retention = engram.StoredRetention([]byte(retention))
	p.Auth = engram.StoredProjectAuth([]byte(auth))
	return p, nil
}

// GetProject implements engram.Store.
func (db *DB) GetProject(ctx context.Context, id string) (*engram.Project, error) {
	p, err := scanProject(db.pool.QueryRow(ctx, `SELECT `+projectColumns+` FROM projects WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("project", id)
	} else if err != nil {
		return nil, mapErr(err)
	}
	return p, nil
}

// ListProjects implements engram.Store.
func (db *DB) ListProjects(ctx context.Context) ([]*engram.Project, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+projectColumns+` FROM projects ORDER BY created_at, id`)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []*engram.Project
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, mapErr(err)
		}
		out = append(out, p)
	}
	return out, mapErr(rows.Err())
}

// CreateAPIKey implements engram.Store.
func (db *DB) CreateAPIKey(ctx context.Context, k *engram.APIKey) error {
	return db.tx(ctx, func(tx pgx.Tx) error {
		if err := projectExists(ctx, tx, k.ProjectID); err != nil {
			return err
		}
		return insertKey(ctx, tx, k)
	})
}

func insertKey(ctx context.Context, tx pgx.Tx, k *engram.APIKey) error {
	_, err := tx.Exec(ctx, `INSERT INTO api_keys (id, project_id, name, prefix, hash, role, end_user, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		k.ID, k.ProjectID, k.Name, k.Prefix, k.Hash, string(k.Role), k.User, k.CreatedAt)
	return err
}

func projectExists(ctx context.Context, q querier, id string) error {
	var one int
	if err := q.QueryRow(ctx, `SELECT 1 FROM projects WHERE id = $1`, id).Scan(&one); errors.Is(err, pgx.ErrNoRows) {
		return notFound("project", id)
	} else if err != nil {
		return err
	}
	return nil
}

const keyColumns = `id, project_id, name, prefix, hash, role, end_user, created_at, revoked_at`

func scanKey(s pgx.Row) (*engram.APIKey, error) {
	k := &engram.APIKey{}
	var role string
	err := s.Scan(&k.ID, &k.ProjectID, &k.Name, &k.Prefix, &k.Hash, &role, &k.User, &k.CreatedAt, &k.RevokedAt)
	k.Role = engram.Role(role)
	return k, err
}

// FindAPIKey implements engram.Store.
func (db *DB) FindAPIKey(ctx context.Context, hash string) (*engram.APIKey, error) {
	k, err := scanKey(db.pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE hash = $1 AND revoked_at = 0`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, engram.Errorf(engram.ENotFound, "API key not found")
	} else if err != nil {
		return nil, mapErr(err)
	}
	return k, nil
}

// ListAPIKeys implements engram.Store.
func (db *DB) ListAPIKeys(ctx context.Context, projectID string) ([]*engram.APIKey, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE project_id = $1 ORDER BY created_at, id`, projectID)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []*engram.APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, mapErr(err)
		}
		out = append(out, k)
	}
	return out, mapErr(rows.Err())
}

// RevokeAPIKey implements engram.Store.
func (db *DB) RevokeAPIKey(ctx context.Context, projectID, id string) error {
	return db.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE project_id = $2 AND id = $3 AND revoked_at = 0`, engram.Now(), projectID, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("API key", id)
		}
		return nil
	})
}

// nameTaken turns a unique violation on an agent's name into the error
// its caller shows; other errors pass unchanged.
func nameTaken(err error, name string) error {
	if engram.ErrorCode(mapErr(err)) == engram.EConflict {
		return engram.ParamErrorf(engram.EConflict, "name", "an agent named %q already exists", name)
	}
	return err
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
	return db.tx(ctx, func(tx pgx.Tx) error {
		if err := projectExists(ctx, tx, a.ProjectID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO agents (id, project_id, name, version, created_at, updated_at) VALUES ($1, $2, $3, 1, $4, $5)`,
			a.ID, a.ProjectID, a.Name, a.CreatedAt, a.UpdatedAt); err != nil {
			return nameTaken(err, a.Name)
		}
		_, err := tx.Exec(ctx, `INSERT INTO agent_versions (agent_id, version, body, created_at) VALUES ($1, 1, $2, $3)`, a.ID, string(body), a.CreatedAt)
		return err
	})
}

// UpdateAgent implements engram.Store. The agent's row is locked while the
// next version is written, so two updates from different replicas make two
// versions one after the other.
func (db *DB) UpdateAgent(ctx context.Context, a *engram.Agent) error {
	return db.tx(ctx, func(tx pgx.Tx) error {
		var version int
		var created int64
		err := tx.QueryRow(ctx, `SELECT version, created_at FROM agents WHERE project_id = $1 AND id = $2 FOR UPDATE`, a.ProjectID, a.ID).Scan(&version, &created)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("agent", a.ID)
		} else if err != nil {
			return err
		}
		a.Version, a.CreatedAt, a.UpdatedAt = version+1, created, engram.Now()
		body, err := json.Marshal(a)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE agents SET version = $1, name = $2, updated_at = $3 WHERE id = $4`, a.Version, a.Name, a.UpdatedAt, a.ID); err != nil {
			return nameTaken(err, a.Name)
		}
		_, err = tx.Exec(ctx, `INSERT INTO agent_versions (agent_id, version, body, created_at) VALUES ($1, $2, $3, $4)`, a.ID, a.Version, string(body), a.UpdatedAt)
		return err
	})
}

// agentID resolves an id or a name to the agent's id and latest version.
func agentID(ctx context.Context, q querier, projectID, idOrName string) (string, int, error) {
	var id string
	var version int
	err := q.QueryRow(ctx, `SELECT id, version FROM agents WHERE project_id = $1 AND (id = $2 OR name = $2) ORDER BY id = $2 DESC LIMIT 1`,
		projectID, idOrName).Scan(&id, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", 0, notFound("agent", idOrName)
	}
	return id, version, mapErr(err)
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
	id, latest, err := agentID(ctx, db.pool, projectID, idOrName)
	if err != nil {
		return nil, err
	}
	if version == 0 {
		version = latest
	}
	var body []byte
	err = db.pool.QueryRow(ctx, `SELECT body FROM agent_versions WHERE agent_id = $1 AND version = $2`, id, version).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, engram.Errorf(engram.ENotFound, "agent %s has no version %d", idOrName, version)
	} else if err != nil {
		return nil, mapErr(err)
	}
	return scanAgent(body, projectID)
}

// agentBodies reads agent definitions, one body a row.
func agentBodies(rows pgx.Rows, err error, projectID string) ([]*engram.Agent, error) {
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []*engram.Agent
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			return nil, mapErr(err)
		}
		a, err := scanAgent(body, projectID)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, mapErr(rows.Err())
}

// ListAgents implements engram.Store.
func (db *DB) ListAgents(ctx context.Context, projectID string, page engram.Page) ([]*engram.Agent, bool, error) {
	var p params
	q := `SELECT v.body FROM agents a JOIN agent_versions v ON v.agent_id = a.id AND v.version = a.version WHERE a.project_id = ` + p.add(projectID)
	q, backwards := pageQuery(q, &p, agentOrder, page)
	rows, err := db.pool.Query(ctx, q, p...)
	out, err := agentBodies(rows, err, projectID)
	if err != nil {
		return nil, false, err
	}
	out, more := engram.FinishPage(out, page, backwards)
	return out, more, nil
}

// ListAgentVersions implements engram.Store.
func (db *DB) ListAgentVersions(ctx context.Context, projectID, idOrName string) ([]*engram.Agent, error) {
	id, _, err := agentID(ctx, db.pool, projectID, idOrName)
	if err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT body FROM agent_versions WHERE agent_id = $1 ORDER BY version`, id)
	return agentBodies(rows, err, projectID)
}

// DeleteAgent implements engram.Store.
func (db *DB) DeleteAgent(ctx context.Context, projectID, idOrName string) error {
	return db.tx(ctx, func(tx pgx.Tx) error {
		id, _, err := agentID(ctx, tx, projectID, idOrName)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM agents WHERE id = $1`, id)
		return err
	})
}
