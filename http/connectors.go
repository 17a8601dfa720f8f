package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/http/openai"
)

// connectorBody is the JSON of POST /v1/connectors and POST
// /v1/connectors/{ref}: every field optional on update, where only the
// fields given change. Secret is raw so that an update can tell absent
// (keep the shared credential) from null (remove it).
type connectorBody struct {
	Name     *string          `json:"name"`
	Kind     *string          `json:"kind"`
	Config   json.RawMessage  `json:"config"`
	PerUser  *bool            `json:"per_user"`
	Secret   json.RawMessage  `json:"secret"`
	Metadata *json.RawMessage `json:"metadata"`
}

// credentialBody is the JSON of POST /v1/connectors/{ref}/credentials.
type credentialBody struct {
	User   string         `json:"user"`
	Secret *engram.Secret `json:"secret"`
}

// connectorJSON is a connector as the API shows it: has_secret and users
// say which credentials exist; nothing shows what they hold.
type connectorJSON struct {
	Object string `json:"object"`
	*engram.Connector
}

func encodeConnector(c *engram.Connector) connectorJSON {
	if len(c.Config) == 0 {
		c.Config = json.RawMessage("{}")
	}
	return connectorJSON{Object: "connector", Connector: c}
}

var connectorName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// connectorConfigs are the settings each kind takes (docs/connectors.md).
// Every one is decoded strictly: a misspelt setting is refused, not
// ignored.
type (
	httpConnectorConfig struct {
		BaseURL      string `json:"base_url"`
		AllowPrivate bool   `json:"allow_private"`
	}
	s3ConnectorConfig struct {
		Endpoint     string `json:"endpoint"`
		Region       string `json:"region"`
		Bucket       string `json:"bucket"`
		PathStyle    bool   `json:"path_style"`
		Prefix       string `json:"prefix"`
		AllowPrivate bool   `json:"allow_private"`
	}
	postgresConnectorConfig struct {
		URL       string `json:"url"`
		MaxRows   int    `json:"max_rows"`
		TimeoutMS int    `json:"timeout_ms"`
	}
	sqliteConnectorConfig struct {
		Path      string `json:"path"`
		MaxRows   int    `json:"max_rows"`
		TimeoutMS int    `json:"timeout_ms"`
	}
	mcpConnectorConfig struct {
		Transport    string            `json:"transport"`
		Command      string            `json:"command"`
		Args         []string          `json:"args"`
		Env          map[string]string `json:"env"`
		URL          string            `json:"url"`
		AllowPrivate bool              `json:"allow_private"`
	}
)

// secretFields are the names a kind's secret.fields may hold (nil: any).
var secretFields = map[string][]string{
	engram.ConnectorHTTP:     {},
	engram.ConnectorS3:       {"access_key_id", "secret_access_key", "session_token"},
	engram.ConnectorPostgres: {"password", "user"},
	engram.ConnectorSQLite:   {},
	engram.ConnectorMCP:      nil,
}

func httpURL(param, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return engram.ParamErrorf(engram.EInvalid, param, "Invalid '%s': expected an absolute http or https URL.", param)
	}
	if u.User != nil {
		return engram.ParamErrorf(engram.EInvalid, param, "Invalid '%s': credentials do not go in the URL; put them in 'secret'.", param)
	}
	return nil
}

// checkConnectorConfig validates a kind's config: known settings only, the
// required ones present, no credential in clear where one belongs in the
// sealed secret.
func checkConnectorConfig(kind string, raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return engram.ParamErrorf(engram.EInvalid, "config", "Missing required parameter: 'config'.")
	}
	missing := func(name string) error {
		return engram.ParamErrorf(engram.EInvalid, "config."+name, "Missing required parameter: 'config.%s' (a %s connector needs it).", name, kind)
	}
	negative := func(n int, name string) error {
		if n < 0 {
			return engram.ParamErrorf(engram.EInvalid, "config."+name, "Invalid 'config.%s': expected a positive integer.", name)
		}
		return nil
	}
	switch kind {
	case engram.ConnectorHTTP:
		var c httpConnectorConfig
		if err := decodeStrict(raw, "config", &c); err != nil {
			return err
		}
		if c.BaseURL == "" {
			return missing("base_url")
		}
		return httpURL("config.base_url", c.BaseURL)
	case engram.ConnectorS3:
		var c s3ConnectorConfig
		if err := decodeStrict(raw, "config", &c); err != nil {
			return err
		}
		if c.Bucket == "" {
			return missing("bucket")
		}
		if c.Region == "" {
			return missing("region")
		}
		if c.Endpoint != "" {
			return httpURL("config.endpoint", c.Endpoint)
		}
	case engram.ConnectorPostgres:
		var c postgresConnectorConfig
		if err := decodeStrict(raw, "config", &c); err != nil {
			return err
		}
		if c.URL == "" {
			return missing("url")
		}
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			return engram.ParamErrorf(engram.EInvalid, "config.url", "Invalid 'config.url': expected postgres://user@host:port/database.")
		}
		if _, has := u.User.Password(); has || u.Query().Has("password") {
			return engram.ParamErrorf(engram.EInvalid, "config.url", "Invalid 'config.url': the password does not go in the URL; put it in 'secret.fields.password', where it is sealed.")
		}
		if err := negative(c.MaxRows, "max_rows"); err != nil {
			return err
		}
		return negative(c.TimeoutMS, "timeout_ms")
	case engram.ConnectorSQLite:
		var c sqliteConnectorConfig
		if err := decodeStrict(raw, "config", &c); err != nil {
			return err
		}
		if c.Path == "" {
			return missing("path")
		}
		if err := negative(c.MaxRows, "max_rows"); err != nil {
			return err
		}
		return negative(c.TimeoutMS, "timeout_ms")
	case engram.ConnectorMCP:
		var c mcpConnectorConfig
		if err := decodeStrict(raw, "config", &c); err != nil {
			return err
		}
		switch c.Transport {
		case "stdio":
			if c.Command == "" {
				return missing("command")
			}
		case "http":
			if c.URL == "" {
				return missing("url")
			}
			return httpURL("config.url", c.URL)
		default:
			return engram.ParamErrorf(engram.EInvalid, "config.transport", "Invalid 'config.transport': expected 'stdio' or 'http'.")
		}
	default:
		return engram.ParamErrorf(engram.EInvalid, "kind", "Invalid 'kind': expected one of 'http', 's3', 'postgres', 'sqlite' or 'mcp'.")
	}
	return nil
}

// headerName is an HTTP header field name (RFC 9110 token).
var headerName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// checkSecret validates a secret for kind without ever echoing its values.
func checkSecret(kind string, s *engram.Secret, param string) error {
	for k, v := range s.Headers {
		if !headerName.MatchString(k) {
			return engram.ParamErrorf(engram.EInvalid, param+".headers", "Invalid header name in '%s.headers'.", param)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return engram.ParamErrorf(engram.EInvalid, param+".headers", "Invalid value of header %s in '%s.headers': no line breaks.", k, param)
		}
	}
	allowed, ok := secretFields[kind]
	if !ok || allowed == nil {
		return nil
	}
	for k := range s.Fields {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return engram.ParamErrorf(engram.EInvalid, param+".fields", "A %s connector's secret takes no fields ('%s'); use headers.", kind, k)
			}
			return engram.ParamErrorf(engram.EInvalid, param+".fields", "Unknown field '%s' in '%s.fields': a %s connector takes %s.", k, param, kind, strings.Join(allowed, ", "))
		}
	}
	return nil
}

// decodeSecret reads a secret object (null: none).
func decodeSecret(raw json.RawMessage) (*engram.Secret, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s engram.Secret
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return nil, engram.ParamErrorf(engram.EInvalid, "secret", "Unknown parameter: 'secret.%s'.", strings.Trim(name, `"`))
		}
		// Never the decoder's message: it may quote the secret.
		return nil, engram.ParamErrorf(engram.EInvalid, "secret", "Invalid 'secret': expected {\"headers\": {name: value}, \"fields\": {name: value}} with string values.")
	}
	return &s, nil
}

// seal checks a secret against what c's kind holds and seals it as the
// credential of user ("" for the shared one).
func (s *Server) seal(c *engram.Connector, user string, secret *engram.Secret) (*engram.Credential, error) {
	if err := checkSecret(c.Kind, secret, "secret"); err != nil {
		return nil, err
	}
	if s.Secrets == nil {
		return nil, engram.Errorf(engram.EUnavailable, "Credentials cannot be stored: this server has no master key.")
	}
	return s.Secrets.Seal(c.ProjectID, c.ID, user, *secret)
}

func (s *Server) createConnector(w http.ResponseWriter, r *http.Request) {
	var body connectorBody
	if err := s.decodeBody(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	c := &engram.Connector{ID: engram.NewID("conn"), ProjectID: keyOf(r).ProjectID}
	err := func() error {
		if body.Name == nil || *body.Name == "" {
			return engram.ParamErrorf(engram.EInvalid, "name", "Missing required parameter: 'name'.")
		}
		if body.Kind == nil || *body.Kind == "" {
			return engram.ParamErrorf(engram.EInvalid, "kind", "Missing required parameter: 'kind'.")
		}
		c.Kind = *body.Kind
		return body.apply(c)
	}()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	secret, err := decodeSecret(body.Secret)
	var cred *engram.Credential
	if err == nil && secret != nil {
		cred, err = s.seal(c, "", secret)
	}
	if err == nil {
		err = s.Store.CreateConnector(r.Context(), c)
	}
	if err == nil && cred != nil {
		if err = s.Store.PutCredential(r.Context(), cred); err != nil {
			// Not half-written: a connector without the secret it was
			// created with would run its calls unauthenticated.
			_ = s.Store.DeleteConnector(r.Context(), c.ProjectID, c.ID)
		}
		c.HasSecret = err == nil
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, encodeConnector(c))
}

// apply sets the fields given (kind only on create: what a credential
// holds depends on it) and checks the result.
func (b *connectorBody) apply(c *engram.Connector) error {
	if b.Kind != nil && *b.Kind != c.Kind {
		return engram.ParamErrorf(engram.EInvalid, "kind", "A connector's kind cannot change (it is '%s'); create another connector.", c.Kind)
	}
	if b.Name != nil {
		if !connectorName.MatchString(*b.Name) {
			return engram.ParamErrorf(engram.EInvalid, "name", "Invalid 'name': use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit.")
		}
		c.Name = *b.Name
	}
	if len(b.Config) > 0 {
		c.Config = b.Config
	}
	if err := checkConnectorConfig(c.Kind, c.Config); err != nil {
		return err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, c.Config); err != nil {
		return engram.ParamErrorf(engram.EInvalid, "config", "Invalid 'config': %v", err)
	}
	c.Config = compact.Bytes()
	if b.PerUser != nil {
		c.PerUser = *b.PerUser
	}
	if b.Metadata != nil {
		m, err := openai.DecodeMetadata(*b.Metadata)
		if err != nil {
			return err
		}
		c.Metadata = m
	}
	return nil
}

func (s *Server) getConnector(w http.ResponseWriter, r *http.Request) {
	c, err := s.Store.GetConnector(r.Context(), keyOf(r).ProjectID, r.PathValue("ref"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, encodeConnector(c))
}

func (s *Server) listConnectors(w http.ResponseWriter, r *http.Request) {
	p, err := page(r, "asc")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	list, more, err := s.Store.ListConnectors(r.Context(), keyOf(r).ProjectID, p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]connectorJSON, len(list))
	for i, c := range list {
		out[i] = encodeConnector(c)
	}
	writeJSON(w, http.StatusOK, openai.NewList(out, more, func(c connectorJSON) string { return c.ID }))
}

func (s *Server) updateConnector(w http.ResponseWriter, r *http.Request) {
	var body connectorBody
	if err := s.decodeBody(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.Store.GetConnector(r.Context(), keyOf(r).ProjectID, r.PathValue("ref"))
	if err == nil {
		err = body.apply(c)
	}
	secret, removeSecret := (*engram.Secret)(nil), false
	if err == nil && len(body.Secret) > 0 {
		secret, err = decodeSecret(body.Secret)
		removeSecret = err == nil && secret == nil
	}
	var cred *engram.Credential
	if err == nil && secret != nil {
		cred, err = s.seal(c, "", secret)
	}
	// The settings first: the refusals an update meets (a name taken) then
	// leave the stored secret as it was.
	if err == nil {
		err = s.Store.UpdateConnector(r.Context(), c)
	}
	if err == nil && cred != nil {
		err = s.Store.PutCredential(r.Context(), cred)
	}
	if err == nil && removeSecret {
		if err = s.Store.DeleteCredential(r.Context(), c.ProjectID, c.ID, ""); engram.ErrorCode(err) == engram.ENotFound {
			err = nil
		}
	}
	if err == nil {
		c, err = s.Store.GetConnector(r.Context(), c.ProjectID, c.ID)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, encodeConnector(c))
}

func (s *Server) deleteConnector(w http.ResponseWriter, r *http.Request) {
	c, err := s.Store.GetConnector(r.Context(), keyOf(r).ProjectID, r.PathValue("ref"))
	if err == nil {
		err = s.Store.DeleteConnector(r.Context(), c.ProjectID, c.ID)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, openai.Deleted{ID: c.ID, Object: "connector.deleted", Deleted: true})
}

func (s *Server) putCredential(w http.ResponseWriter, r *http.Request) {
	var body credentialBody
	if err := s.decodeBody(w, r, &body); err != nil {
		var e *engram.Error
		if errors.As(err, &e) && strings.HasPrefix(e.Message, "Invalid type") {
			err = engram.ParamErrorf(engram.EInvalid, e.Param, "Invalid type for '%s'.", e.Param) // the decoder's words may quote a value
		}
		s.fail(w, r, err)
		return
	}
	c, err := s.Store.GetConnector(r.Context(), keyOf(r).ProjectID, r.PathValue("ref"))
	if err == nil {
		switch {
		case body.User == "":
			err = engram.ParamErrorf(engram.EInvalid, "user", "Missing required parameter: 'user' (the shared credential is the connector's 'secret').")
		case body.Secret == nil:
			err = engram.ParamErrorf(engram.EInvalid, "secret", "Missing required parameter: 'secret'.")
		}
	}
	var cred *engram.Credential
	if err == nil {
		cred, err = s.seal(c, body.User, body.Secret)
	}
	if err == nil {
		err = s.Store.PutCredential(r.Context(), cred)
	}
	if err == nil {
		c, err = s.Store.GetConnector(r.Context(), c.ProjectID, c.ID)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, encodeConnector(c))
}

func (s *Server) deleteCredential(w http.ResponseWriter, r *http.Request) {
	c, err := s.Store.GetConnector(r.Context(), keyOf(r).ProjectID, r.PathValue("ref"))
	if err == nil {
		err = s.Store.DeleteCredential(r.Context(), c.ProjectID, c.ID, r.PathValue("user"))
	}
	if err == nil {
		c, err = s.Store.GetConnector(r.Context(), c.ProjectID, c.ID)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, encodeConnector(c))
}
