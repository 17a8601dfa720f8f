package engram

import (
	"context"
	"encoding/json"
)

// Connector is a project's named way to reach a live system for its tools:
// an HTTP API, an S3-compatible bucket, a PostgreSQL or SQLite database,
// an MCP server. Config holds its settings in clear (never credentials);
// its secrets (a password, keys, headers) are sealed with the master key
// and never returned, logged or exported in clear. A connector may hold a
// credential per end user: a tool call acting for a user uses that user's
// (on-behalf-of).
type Connector struct {
	ID        string `json:"id"`
	ProjectID string `json:"-"`
	Name      string `json:"name"` // unique in the project; agents' tools name it
	Kind      string `json:"kind"` // ConnectorHTTP, …
	// Config is the kind's settings (see docs/connectors.md):
	//   http:     {"base_url", "allow_private": bool}
	//   s3:       {"endpoint", "region", "bucket", "path_style": bool, "allow_private": bool,
	//              "prefix" (object_store keys stay under it)}
	//   postgres: {"url" (without password), "max_rows", "timeout_ms"}
	//   sqlite:   {"path", "max_rows", "timeout_ms"}
	//   mcp:      {"transport": "stdio"|"http", "command", "args", "env", "url"}
	Config json.RawMessage `json:"config"`
	// PerUser: a call acting for a user must use that user's credential;
	// without one it is refused (never falls back to the shared one).
	PerUser bool `json:"per_user"`
	// HasSecret says a shared credential is stored; Users lists the end
	// users with their own. Neither is ever the secret itself.
	HasSecret bool              `json:"has_secret"`
	Users     []string          `json:"users,omitempty"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	CreatedAt int64             `json:"created_at"`
	UpdatedAt int64             `json:"updated_at"`
}

// Connector kinds.
const (
	ConnectorHTTP     = "http"
	ConnectorS3       = "s3"
	ConnectorPostgres = "postgres"
	ConnectorSQLite   = "sqlite"
	ConnectorMCP      = "mcp"
)

// Credential is a connector's sealed secret: the shared one (User "") or
// one end user's. Sealed is AES-256-GCM ciphertext under the master key
// KeyID names, bound to the connector and user (see secrets.Box).
type Credential struct {
	ProjectID   string
	ConnectorID string
	User        string
	KeyID       string
	Sealed      []byte
	UpdatedAt   int64
}

// Secret is a credential in clear, only ever in memory: the fields a kind
// uses (http: "headers"; s3: "access_key_id", "secret_access_key",
// "session_token"; postgres: "password" and optionally "user", which
// replaces the url's; mcp: "headers" sent on every request of an http
// server, or for a stdio server "fields" (and "headers") set as its
// environment variables: see docs/mcp.md).
type Secret struct {
	Headers map[string]string `json:"headers,omitempty"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// ConnectorStore keeps connectors and their sealed credentials.
type ConnectorStore interface {
	CreateConnector(ctx context.Context, c *Connector) error
	// GetConnector takes an id or a name; HasSecret and Users are filled.
	GetConnector(ctx context.Context, projectID, idOrName string) (*Connector, error)
	ListConnectors(ctx context.Context, projectID string, page Page) ([]*Connector, bool, error)
	UpdateConnector(ctx context.Context, c *Connector) error
	// DeleteConnector deletes it with its credentials.
	DeleteConnector(ctx context.Context, projectID, idOrName string) error
	// PutCredential stores (or replaces) c; DeleteCredential removes one.
	PutCredential(ctx context.Context, c *Credential) error
	GetCredential(ctx context.Context, projectID, connectorID, user string) (*Credential, error)
	DeleteCredential(ctx context.Context, projectID, connectorID, user string) error
	// ListCredentials pages every credential of every project sealed under
	// a key other than keyID, for rotation (after: the last one seen).
	ListCredentialsNotUnder(ctx context.Context, keyID string, limit int) ([]*Credential, error)
}

// ResolvedConnector is what a tool call may use: the connector and the
// credential of the user it acts for (or the shared one).
type ResolvedConnector struct {
	Connector *Connector
	Secret    Secret
	// User is whose credential Secret is ("" for the shared one).
	User string
}

// Connectors gives tools connectors with their credentials in clear. A
// connector that is PerUser and has no credential for user is
// EForbidden; an unknown name ENotFound.
type Connectors interface {
	Resolve(ctx context.Context, projectID, name, user string) (*ResolvedConnector, error)
}
