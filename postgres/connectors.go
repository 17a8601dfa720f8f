package postgres

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/engram-run/engram"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const connectorColumns = `id, project_id, name, kind, config, per_user, metadata, created_at, updated_at`

var connectorOrder = createdOrder("connectors", "")

func scanConnector(row pgx.Row) (*engram.Connector, error) {
	c := &engram.Connector{}
	var config, meta string
	var perUser int
	if err := row.Scan(&c.ID, &c.ProjectID, &c.Name, &c.Kind, &config, &perUser, &meta, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return nil, err
	}
	c.PerUser = perUser != 0
	c.Config = json.RawMessage(config)
	if err := json.Unmarshal([]byte(meta), &c.Metadata); err != nil {
		return nil, err
	}
	return c, nil
}

func connectorConfig(c *engram.Connector) string {
	if len(c.Config) == 0 {
		return "{}"
	}
	return pgText(string(c.Config))
}

// fillCredentials sets HasSecret and Users from the connector's
// credentials' rows (never their contents).
func fillCredentials(ctx context.Context, q querier, c *engram.Connector) error {
	rows, err := q.Query(ctx, `SELECT end_user FROM connector_credentials WHERE project_id = $1 AND connector_id = $2 ORDER BY end_user`, c.ProjectID, c.ID)
	if err != nil {
		return mapErr(err)
	}
	defer rows.Close()
	c.HasSecret, c.Users = false, nil
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return mapErr(err)
		}
		if u == "" {
			c.HasSecret = true
		} else {
			c.Users = append(c.Users, u)
		}
	}
	return mapErr(rows.Err())
}

// CreateConnector implements engram.Store.
func (db *DB) CreateConnector(ctx context.Context, c *engram.Connector) error {
	if c.CreatedAt == 0 {
		c.CreatedAt = engram.Now()
	}
	c.UpdatedAt = c.CreatedAt
	meta, err := metadataJSON(c.Metadata)
	if err != nil {
		return err
	}
	return db.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO connectors (`+connectorColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			c.ID, c.ProjectID, pgText(c.Name), c.Kind, connectorConfig(c), boolInt(c.PerUser), meta, c.CreatedAt, c.UpdatedAt)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23503" { // foreign key: the project
			return notFound("project", c.ProjectID)
		}
		return mapErr(err)
	})
}

// connectorID finds a connector by id or name (an id wins).
func connectorID(ctx context.Context, q querier, projectID, idOrName string) (string, error) {
	var id string
	err := q.QueryRow(ctx, `SELECT id FROM connectors WHERE project_id = $1 AND (id = $2 OR name = $2) ORDER BY id = $2 DESC LIMIT 1`,
		projectID, pgText(idOrName)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", notFound("connector", idOrName)
	}
	return id, mapErr(err)
}

// GetConnector implements engram.Store.
func (db *DB) GetConnector(ctx context.Context, projectID, idOrName string) (*engram.Connector, error) {
	c, err := scanConnector(db.pool.QueryRow(ctx, `SELECT `+connectorColumns+` FROM connectors
		WHERE project_id = $1 AND (id = $2 OR name = $2) ORDER BY id = $2 DESC LIMIT 1`, projectID, pgText(idOrName)))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("connector", idOrName)
	}
	if err != nil {
		return nil, mapErr(err)
	}
	return c, fillCredentials(ctx, db.pool, c)
}

// ListConnectors implements engram.Store.
func (db *DB) ListConnectors(ctx context.Context, projectID string, page engram.Page) ([]*engram.Connector, bool, error) {
	var p params
	q, backwards := pageQuery(`SELECT `+connectorColumns+` FROM connectors WHERE project_id = `+p.add(projectID), &p, connectorOrder, page)
	rows, err := db.pool.Query(ctx, q, p...)
	if err != nil {
		return nil, false, mapErr(err)
	}
	var out []*engram.Connector
	for rows.Next() {
		c, err := scanConnector(rows)
		if err != nil {
			rows.Close()
			return nil, false, mapErr(err)
		}
		out = append(out, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, mapErr(err)
	}
	out, more := engram.FinishPage(out, page, backwards)
	for _, c := range out {
		if err := fillCredentials(ctx, db.pool, c); err != nil {
			return nil, false, err
		}
	}
	return out, more, nil
}

// UpdateConnector implements engram.Store: name, kind, config, per_user
// and metadata change; the credentials stay.
func (db *DB) UpdateConnector(ctx context.Context, c *engram.Connector) error {
	meta, err := metadataJSON(c.Metadata)
	if err != nil {
		return err
	}
	c.UpdatedAt = engram.Now()
	return db.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE connectors SET name = $1, kind = $2, config = $3, per_user = $4, metadata = $5, updated_at = $6
			WHERE project_id = $7 AND id = $8`, pgText(c.Name), c.Kind, connectorConfig(c), boolInt(c.PerUser), meta, c.UpdatedAt, c.ProjectID, c.ID)
		if err != nil {
			return mapErr(err)
		}
		if tag.RowsAffected() == 0 {
			return notFound("connector", c.ID)
		}
		return nil
	})
}

// DeleteConnector implements engram.Store.
func (db *DB) DeleteConnector(ctx context.Context, projectID, idOrName string) error {
	return db.tx(ctx, func(tx pgx.Tx) error {
		id, err := connectorID(ctx, tx, projectID, idOrName)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM connector_credentials WHERE project_id = $1 AND connector_id = $2`, projectID, id); err != nil {
			return mapErr(err)
		}
		_, err = tx.Exec(ctx, `DELETE FROM connectors WHERE project_id = $1 AND id = $2`, projectID, id)
		return mapErr(err)
	})
}

// PutCredential implements engram.Store. The connector's row is locked so
// that a credential is never stored for a connector being deleted.
func (db *DB) PutCredential(ctx context.Context, c *engram.Credential) error {
	if c.UpdatedAt == 0 {
		c.UpdatedAt = engram.Now()
	}
	return db.tx(ctx, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM connectors WHERE project_id = $1 AND id = $2 FOR UPDATE`, c.ProjectID, c.ConnectorID).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("connector", c.ConnectorID)
		} else if err != nil {
			return mapErr(err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO connector_credentials (project_id, connector_id, end_user, key_id, sealed, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (project_id, connector_id, end_user) DO UPDATE SET key_id = excluded.key_id, sealed = excluded.sealed, updated_at = excluded.updated_at`,
			c.ProjectID, c.ConnectorID, pgText(c.User), c.KeyID, c.Sealed, c.UpdatedAt)
		return mapErr(err)
	})
}

// GetCredential implements engram.Store.
func (db *DB) GetCredential(ctx context.Context, projectID, connectorID, user string) (*engram.Credential, error) {
	c := &engram.Credential{ProjectID: projectID, ConnectorID: connectorID, User: user}
	err := db.pool.QueryRow(ctx, `SELECT key_id, sealed, updated_at FROM connector_credentials WHERE project_id = $1 AND connector_id = $2 AND end_user = $3`,
		projectID, connectorID, pgText(user)).Scan(&c.KeyID, &c.Sealed, &c.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, credentialNotFound(connectorID, user)
	}
	return c, mapErr(err)
}

func credentialNotFound(connectorID, user string) error {
	if user == "" {
		return engram.Errorf(engram.ENotFound, "connector %s has no shared credential", connectorID)
	}
	return engram.Errorf(engram.ENotFound, "connector %s has no credential for user %s", connectorID, user)
}

// DeleteCredential implements engram.Store.
func (db *DB) DeleteCredential(ctx context.Context, projectID, connectorID, user string) error {
	return db.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM connector_credentials WHERE project_id = $1 AND connector_id = $2 AND end_user = $3`, projectID, connectorID, pgText(user))
		if err != nil {
			return mapErr(err)
		}
		if tag.RowsAffected() == 0 {
			return credentialNotFound(connectorID, user)
		}
		return nil
	})
}

// ListCredentialsNotUnder implements engram.Store.
func (db *DB) ListCredentialsNotUnder(ctx context.Context, keyID string, limit int) ([]*engram.Credential, error) {
	rows, err := db.pool.Query(ctx, `SELECT project_id, connector_id, end_user, key_id, sealed, updated_at FROM connector_credentials
		WHERE key_id <> $1 ORDER BY project_id, connector_id, end_user LIMIT $2`, keyID, limit)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []*engram.Credential
	for rows.Next() {
		c := &engram.Credential{}
		if err := rows.Scan(&c.ProjectID, &c.ConnectorID, &c.User, &c.KeyID, &c.Sealed, &c.UpdatedAt); err != nil {
			return nil, mapErr(err)
		}
		out = append(out, c)
	}
	return out, mapErr(rows.Err())
}
