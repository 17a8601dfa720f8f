package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/engram-run/engram"
)

const connectorColumns = `id, project_id, name, kind, config, per_user, metadata, created_at, updated_at`

var connectorOrder = createdOrder("connectors", "")

func scanConnector(row interface{ Scan(...any) error }) (*engram.Connector, error) {
	c := &engram.Connector{}
	var config, meta string
	if err := row.Scan(&c.ID, &c.ProjectID, &c.Name, &c.Kind, &config, &c.PerUser, &meta, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return nil, err
	}
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
	return string(c.Config)
}

// fillCredentials sets HasSecret and Users from the connector's
// credentials' rows (never their contents).
func fillCredentials(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, c *engram.Connector) error {
	rows, err := q.QueryContext(ctx, `SELECT end_user FROM connector_credentials WHERE project_id = ? AND connector_id = ? ORDER BY end_user`, c.ProjectID, c.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	c.HasSecret, c.Users = false, nil
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return err
		}
		if u == "" {
			c.HasSecret = true
		} else {
			c.Users = append(c.Users, u)
		}
	}
	return rows.Err()
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
	return db.tx(ctx, func(tx *txConn) error {
		if err := projectExists(ctx, tx, c.ProjectID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO connectors (`+connectorColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.ProjectID, c.Name, c.Kind, connectorConfig(c), boolInt(c.PerUser), meta, c.CreatedAt, c.UpdatedAt)
		return mapErr(err)
	})
}

// connectorID finds a connector by id or name (an id wins).
func connectorID(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, projectID, idOrName string) (string, error) {
	var id string
	err := q.QueryRowContext(ctx, `SELECT id FROM connectors WHERE project_id = ? AND (id = ? OR name = ?) ORDER BY id = ? DESC LIMIT 1`,
		projectID, idOrName, idOrName, idOrName).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound("connector", idOrName)
	}
	return id, err
}

// GetConnector implements engram.Store.
func (db *DB) GetConnector(ctx context.Context, projectID, idOrName string) (*engram.Connector, error) {
	c, err := scanConnector(db.r.QueryRowContext(ctx, `SELECT `+connectorColumns+` FROM connectors
		WHERE project_id = ? AND (id = ? OR name = ?) ORDER BY id = ? DESC LIMIT 1`, projectID, idOrName, idOrName, idOrName))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("connector", idOrName)
	}
	if err != nil {
		return nil, err
	}
	return c, fillCredentials(ctx, db.r, c)
}

// ListConnectors implements engram.Store.
func (db *DB) ListConnectors(ctx context.Context, projectID string, page engram.Page) ([]*engram.Connector, bool, error) {
	q, args, backwards := pageQuery(`SELECT `+connectorColumns+` FROM connectors WHERE project_id = ?`, []any{projectID}, connectorOrder, page)
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, false, err
	}
	var out []*engram.Connector
	for rows.Next() {
		c, err := scanConnector(rows)
		if err != nil {
			rows.Close()
			return nil, false, err
		}
		out = append(out, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	out, more := engram.FinishPage(out, page, backwards)
	for _, c := range out {
		if err := fillCredentials(ctx, db.r, c); err != nil {
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
	return db.tx(ctx, func(tx *txConn) error {
		res, err := tx.ExecContext(ctx, `UPDATE connectors SET name = ?, kind = ?, config = ?, per_user = ?, metadata = ?, updated_at = ?
			WHERE project_id = ? AND id = ?`, c.Name, c.Kind, connectorConfig(c), boolInt(c.PerUser), meta, c.UpdatedAt, c.ProjectID, c.ID)
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("connector", c.ID)
		}
		return nil
	})
}

// DeleteConnector implements engram.Store.
func (db *DB) DeleteConnector(ctx context.Context, projectID, idOrName string) error {
	return db.tx(ctx, func(tx *txConn) error {
		id, err := connectorID(ctx, tx, projectID, idOrName)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM connector_credentials WHERE project_id = ? AND connector_id = ?`, projectID, id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM connectors WHERE project_id = ? AND id = ?`, projectID, id)
		return err
	})
}

// PutCredential implements engram.Store.
func (db *DB) PutCredential(ctx context.Context, c *engram.Credential) error {
	if c.UpdatedAt == 0 {
		c.UpdatedAt = engram.Now()
	}
	return db.tx(ctx, func(tx *txConn) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM connectors WHERE project_id = ? AND id = ?`, c.ProjectID, c.ConnectorID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("connector", c.ConnectorID)
		} else if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO connector_credentials (project_id, connector_id, end_user, key_id, sealed, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (project_id, connector_id, end_user) DO UPDATE SET key_id = excluded.key_id, sealed = excluded.sealed, updated_at = excluded.updated_at`,
			c.ProjectID, c.ConnectorID, c.User, c.KeyID, c.Sealed, c.UpdatedAt)
		return err
	})
}

// GetCredential implements engram.Store.
func (db *DB) GetCredential(ctx context.Context, projectID, connectorID, user string) (*engram.Credential, error) {
	c := &engram.Credential{ProjectID: projectID, ConnectorID: connectorID, User: user}
	err := db.r.QueryRowContext(ctx, `SELECT key_id, sealed, updated_at FROM connector_credentials WHERE project_id = ? AND connector_id = ? AND end_user = ?`,
		projectID, connectorID, user).Scan(&c.KeyID, &c.Sealed, &c.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, credentialNotFound(connectorID, user)
	}
	return c, err
}

func credentialNotFound(connectorID, user string) error {
	if user == "" {
		return engram.Errorf(engram.ENotFound, "connector %s has no shared credential", connectorID)
	}
	return engram.Errorf(engram.ENotFound, "connector %s has no credential for user %s", connectorID, user)
}

// DeleteCredential implements engram.Store.
func (db *DB) DeleteCredential(ctx context.Context, projectID, connectorID, user string) error {
	return db.tx(ctx, func(tx *txConn) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM connector_credentials WHERE project_id = ? AND connector_id = ? AND end_user = ?`, projectID, connectorID, user)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return credentialNotFound(connectorID, user)
		}
		return nil
	})
}

// ListCredentialsNotUnder implements engram.Store.
func (db *DB) ListCredentialsNotUnder(ctx context.Context, keyID string, limit int) ([]*engram.Credential, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT project_id, connector_id, end_user, key_id, sealed, updated_at FROM connector_credentials
		WHERE key_id <> ? ORDER BY project_id, connector_id, end_user LIMIT ?`, keyID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*engram.Credential
	for rows.Next() {
		c := &engram.Credential{}
		if err := rows.Scan(&c.ProjectID, &c.ConnectorID, &c.User, &c.KeyID, &c.Sealed, &c.UpdatedAt); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
