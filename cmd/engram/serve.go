package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/engram-run/engram"
	enghttp "github.com/engram-run/engram/http"
	"github.com/engram-run/engram/http/openai"
	"github.com/engram-run/engram/jwtauth"
	"github.com/engram-run/engram/mcp"
	"github.com/engram-run/engram/memory"
	"github.com/engram-run/engram/objectstore"
	"github.com/engram-run/engram/policy"
	"github.com/engram-run/engram/postgres"
	"github.com/engram-run/engram/provider"
	"github.com/engram-run/engram/provider/anthropic"
	openaiprovider "github.com/engram-run/engram/provider/openai"
	"github.com/engram-run/engram/provider/scripted"
	"github.com/engram-run/engram/runtime"
	"github.com/engram-run/engram/secrets"
	"github.com/engram-run/engram/sqlite"
	"github.com/engram-run/engram/sqlquery"
	"github.com/engram-run/engram/tokens"
	"github.com/engram-run/engram/tool"
)

func runServe(ctx context.Context, e *invocation, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	addr := fs.String("addr", e.env("ENGRAM_ADDR", "127.0.0.1:8080"), "address to listen on (ENGRAM_ADDR)")
	data := fs.String("data", e.env("ENGRAM_DATA", "./engram-data"), "data directory: the SQLite store, and this node's id (ENGRAM_DATA)")
	dbURL := fs.String("database-url", e.getenv("ENGRAM_DATABASE_URL"), "PostgreSQL instead of SQLite: postgres://user:pass@host/db (ENGRAM_DATABASE_URL); see docs/postgres.md")
	logLevel := fs.String("log-level", e.env("ENGRAM_LOG_LEVEL", "info"), "log level: debug, info, warn or error (ENGRAM_LOG_LEVEL)")
	fs.Usage = func() {
		fmt.Fprint(e.stderr, `Usage: engram serve [flags]

Runs the Engram server: on the embedded SQLite store in -data by default, or
on PostgreSQL when -database-url (ENGRAM_DATABASE_URL) names one. Several
servers on one PostgreSQL database are replicas: any of them serves any
conversation, and the runs of one that dies are resumed by the others.

ENGRAM_PRICES names a JSON file of model prices in USD per million tokens,
{"openai/gpt-5.1": {"input": 1.25, "cached": 0.125, "output": 10}, ...},
laid over the built-in table; budgets' max_cost_usd counts with them
(docs/budgets.md).

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("bad log level %q", *logLevel)
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))

	a, err := openApp(ctx, e, storeConfig{dir: *data, databaseURL: *dbURL}, logger)
	if err != nil {
		return err
	}
	defer a.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: a.handler, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(e.stdout, "engram listening on http://%s (store %s; node %s; providers: %s)\n", ln.Addr(), a.storeName, a.runtime.Node, strings.Join(a.providers.Names(), ", "))

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// app is the assembled server: store, runtime and API.
type app struct {
	store     engram.Store
	storeName string // for people: the SQLite file, or PostgreSQL's host and database
	providers *provider.Registry
	runtime   *runtime.Runtime
	bus       *postgres.Bus // replicas' stream relay; nil on SQLite
	mcp       *mcp.Pool     // sessions to MCP servers
	// releaseNode frees this node's id on PostgreSQL (nil on SQLite).
	releaseNode func()
	handler     http.Handler
	// jwts verifies the JWTs of identity providers projects trust; Close
	// stops its key-set refreshes.
	jwts *jwtauth.Authenticator
}

// Close stops the runs executing here (they stay in progress, to resume
// at the next start) and closes the store.
func (a *app) Close() error {
	a.runtime.Stop()
	if a.jwts != nil {
		a.jwts.Close()
	}
	if a.mcp != nil {
		a.mcp.Close() // asks stdio servers to exit
	}
	if a.bus != nil {
		a.bus.Close()
	}
	if a.releaseNode != nil {
		a.releaseNode()
	}
	return a.store.Close()
}

// storeConfig says where the state is: PostgreSQL at databaseURL when it
// is set, else SQLite in dir. dir also keeps the node's id.
type storeConfig struct {
	dir         string
	databaseURL string
}

// openStore opens the configured store.
func openStore(ctx context.Context, c storeConfig) (engram.Store, string, error) {
	u := c.databaseURL
	switch {
	case u == "":
		path := filepath.Join(c.dir, "engram.db")
		store, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, "", fmt.Errorf("open store: %w", err)
		}
		return store, "sqlite " + path, nil
	case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		store, err := postgres.Open(ctx, u)
		if err != nil {
			return nil, "", fmt.Errorf("open store: %w", err)
		}
		return store, "postgres " + redactURL(u), nil
	}
	return nil, "", fmt.Errorf("ENGRAM_DATABASE_URL %q: want postgres://user:password@host:port/database", redactURL(u))
}

// redactURL hides a URL's password, for logs and messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	u.RawQuery = ""
	return u.String()
}

// openApp assembles the server on the configured store.
func openApp(ctx context.Context, e *invocation, sc storeConfig, logger *slog.Logger) (*app, error) {
	dir := sc.dir
	store, storeName, err := openStore(ctx, sc)
	if err != nil {
		return nil, err
	}
	operator, err := bootstrap(ctx, store, e)
	if err != nil {
		store.Close()
		return nil, err
	}
	providers, err := configureProviders(e)
	if err != nil {
		store.Close()
		return nil, err
	}
	tokens.Warm()
	embedder, err := memory.EmbedderFromEnv(e.getenv)
	if err != nil {
		store.Close()
		return nil, err
	}
	box, keySource, err := secrets.LoadBox(e.getenv, dir)
	if err != nil {
		store.Close()
		return nil, err
	}
	if sc.databaseURL != "" && e.getenv("ENGRAM_MASTER_KEY") == "" {
		// Each replica would make a key of its own, and none could open
		// what another sealed.
		logger.Warn("the master key is in this node's data directory: replicas sharing the database need the same key; set ENGRAM_MASTER_KEY on every one", "key_file", keySource)
	}
	logger.Info("master key", "source", keySource, "key_id", box.KeyID())
	mem := &memory.Service{Store: store, Embedder: embedder, Logger: logger}
	// The tools that reach live data through a project's connectors, each
	// call with the credential of the user the run acts for.
	connectors := &secrets.Connectors{Store: store, Box: box}
	tools := tool.WithMemory(mem, store).Add(&tool.HTTPRequest{Connectors: connectors}, objectstore.Tool(connectors), sqlquery.Tool(connectors))
	rt := runtime.New(store, providers, tools, logger)
	rt.Memory = mem
	// Every server-side tool call is put to the project's Cedar policies
	// (the built-in default, while a project stores none, permits the
	// tools its agents declare).
	authz := policy.New(store)
	rt.Authorizer = authz
	rt.EncodeEvent = func(ev engram.StreamEvent) []byte { return openai.EncodeEvent(int(ev.Seq), ev) }
	audit := engram.StoreAuditor{Store: store}
	rt.Audit = audit
	if rt.Node, err = nodeID(e, dir); err != nil {
		store.Close()
		return nil, err
	}
	if v := e.getenv("ENGRAM_LEASE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 100*time.Millisecond {
			store.Close()
			return nil, fmt.Errorf("ENGRAM_LEASE %q: want a duration of at least 100ms, such as 15s", v)
		}
		rt.LeaseDuration = d
		rt.PollInterval = min(rt.PollInterval, d/3)
	}
	if v := e.getenv("ENGRAM_RETENTION_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			store.Close()
			return nil, fmt.Errorf("ENGRAM_RETENTION_INTERVAL %q: want a duration such as 1h (0 turns purging off)", v)
		}
		rt.RetentionInterval = d
	}
	if v := e.getenv("ENGRAM_PRICES"); v != "" {
		// Model prices for budgets' dollar caps, laid over the built-in
		// table (docs/budgets.md).
		if rt.Prices, err = engram.LoadPrices(v); err != nil {
			store.Close()
			return nil, fmt.Errorf("ENGRAM_PRICES: %w", err)
		}
	}
	// MCP servers are connectors of kind mcp: the pool needs
	// engram.Connectors to resolve them with the run's user's credential.
	mcpPool, err := configureMCP(e, connectors, logger)
	if err != nil {
		store.Close()
		return nil, err
	}
	rt.MCP = mcpPool
	var bus *postgres.Bus
	var releaseNode func()
	if pg, ok := store.(*postgres.DB); ok {
		if releaseNode, err = pg.ClaimNode(ctx, rt.Node); err != nil {
			store.Close()
			return nil, err
		}
	}
	if sc.databaseURL != "" {
		// Replicas relay the stream events of their runs to clients
		// attached to another replica.
		if bus, err = postgres.NewBus(ctx, sc.databaseURL, logger); err != nil {
			releaseNode()
			store.Close()
			return nil, fmt.Errorf("stream relay: %w", err)
		}
		rt.Bus = bus
	}
	// Runs outlive the request that started them: the pool's context is
	// the process's, ended by Close.
	if err := rt.Start(context.WithoutCancel(ctx)); err != nil {
		if bus != nil {
			bus.Close()
		}
		if releaseNode != nil {
			releaseNode()
		}
		store.Close()
		return nil, err
	}
	jwts := &jwtauth.Authenticator{Projects: store, Logger: logger}
	api := &enghttp.Server{Store: store, Responses: rt, Memory: mem, Logger: logger, ValidateAgent: rt.ValidateAgent, Providers: providers, Prices: rt.Prices, BudgetsChanged: rt.BudgetsChanged,
		OperatorProject: operator, Tokens: jwts, Secrets: box,
		Ready: func(ctx context.Context) error { _, err := store.ListProjects(ctx); return err }, Policies: authz}
	api.Audit = audit
	return &app{store: store, storeName: storeName, providers: providers, runtime: rt, bus: bus, mcp: mcpPool, releaseNode: releaseNode, handler: api.Handler(), jwts: jwts}, nil
}

// configureMCP makes the pool of MCP client sessions over conns, with its
// settings from the environment: ENGRAM_MCP_ALLOW_STDIO=1 lets connectors start stdio
// servers (commands on this host); ENGRAM_MCP_CONNECT_TIMEOUT,
// ENGRAM_MCP_CALL_TIMEOUT and ENGRAM_MCP_IDLE_TIMEOUT are durations.
func configureMCP(e *invocation, conns engram.Connectors, logger *slog.Logger) (*mcp.Pool, error) {
	p := mcp.New(conns, logger)
	switch v := e.getenv("ENGRAM_MCP_ALLOW_STDIO"); v {
	case "", "0", "false":
	case "1", "true":
		p.AllowStdio = true
	default:
		return nil, fmt.Errorf("ENGRAM_MCP_ALLOW_STDIO %q: want 1 or 0", v)
	}
	for _, d := range []struct {
		name string
		to   *time.Duration
	}{{"ENGRAM_MCP_CONNECT_TIMEOUT", &p.ConnectTimeout}, {"ENGRAM_MCP_CALL_TIMEOUT", &p.CallTimeout}, {"ENGRAM_MCP_IDLE_TIMEOUT", &p.IdleTimeout}} {
		if v := e.getenv(d.name); v != "" {
			t, err := time.ParseDuration(v)
			if err != nil || t <= 0 {
				return nil, fmt.Errorf("%s %q: want a positive duration such as 30s", d.name, v)
			}
			*d.to = t
		}
	}
	return p, nil
}

// nodeID names this node in run leases: ENGRAM_NODE_ID, or an id made on
// the first start and kept in the data directory, so that a restarted node
// takes back its own runs at once.
func nodeID(e *invocation, dir string) (string, error) {
	if id := e.getenv("ENGRAM_NODE_ID"); id != "" {
		return id, nil
	}
	path := filepath.Join(dir, "node-id")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	id := engram.NewID("node")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("keeping the node id: %w", err)
	}
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("keeping the node id: %w", err)
	}
	return id, nil
}

// defaultProjectID is the id of the project the first start creates.
const defaultProjectID = "proj_default"

// bootstrap makes sure a project and an admin key exist. ENGRAM_ADMIN_KEY
// seeds the key; without it the first start makes one and prints it, once:
// only its hash is kept. It returns the operator project, whose admin keys
// manage every project: the default project, the first one made.
func bootstrap(ctx context.Context, store engram.Store, e *invocation) (string, error) {
	projects, err := store.ListProjects(ctx)
	if err != nil {
		return "", err
	}
	var project *engram.Project
	if len(projects) == 0 {
		// Replicas starting at once on an empty database all get here: the
		// default project has a fixed id, so one creates it and the others
		// find it.
		project = &engram.Project{ID: defaultProjectID, Name: "default", CreatedAt: engram.Now()}
		if err := store.CreateProject(ctx, project); err != nil {
			if engram.ErrorCode(err) != engram.EConflict {
				return "", err
			}
			if project, err = store.GetProject(ctx, defaultProjectID); err != nil {
				return "", err
			}
		} else if err := auditBootstrap(ctx, store, project.ID, "project.create", project.ID); err != nil {
			return "", err
		}
	} else if project, err = store.GetProject(ctx, defaultProjectID); engram.ErrorCode(err) == engram.ENotFound {
		// A store made otherwise (imported): its oldest project. The
		// default project is looked up by id first, since projects made in
		// its first second may sort before it.
		project = projects[0]
	} else if err != nil {
		return "", err
	}
	return project.ID, seedAdminKey(ctx, store, e, project.ID)
}

// seedAdminKey gives the operator project its first admin key: the one
// ENGRAM_ADMIN_KEY names, or else, when it has none, a new one printed once.
// auditBootstrap records what a first start made (the default project, an
// admin key) in the project's audit log, as the API records what it makes.
func auditBootstrap(ctx context.Context, store engram.Store, projectID, action, resource string) error {
	return engram.RecordAudit(ctx, engram.StoreAuditor{Store: store}, &engram.AuditEntry{ProjectID: projectID, Actor: "system:bootstrap",
		Action: action, Resource: resource, Outcome: engram.AuditSuccess})
}

func seedAdminKey(ctx context.Context, store engram.Store, e *invocation, projectID string) error {
	if secret := e.getenv("ENGRAM_ADMIN_KEY"); secret != "" {
		if len(secret) < 16 {
			return fmt.Errorf("ENGRAM_ADMIN_KEY is too short: use at least 16 characters")
		}
		if _, err := store.FindAPIKey(ctx, engram.HashKey(secret)); err == nil {
			return nil
		} else if engram.ErrorCode(err) != engram.ENotFound {
			return err
		}
		key := &engram.APIKey{ID: engram.NewID("key"), ProjectID: projectID, Name: "admin (ENGRAM_ADMIN_KEY)",
			Prefix: secret[:min(len(secret), 12)], Hash: engram.HashKey(secret), Role: engram.RoleAdmin, CreatedAt: engram.Now()}
		err := store.CreateAPIKey(ctx, key)
		if engram.ErrorCode(err) == engram.EConflict {
			return nil // another replica seeded it meanwhile
		}
		if err != nil {
			return err
		}
		return auditBootstrap(ctx, store, projectID, "key.create", key.ID)
	}
	keys, err := store.ListAPIKeys(ctx, projectID)
	if err != nil || len(keys) > 0 {
		return err
	}
	secret, shown := engram.NewKeySecret()
	key := &engram.APIKey{ID: engram.NewID("key"), ProjectID: projectID, Name: "admin (first start)",
		Prefix: shown, Hash: engram.HashKey(secret), Role: engram.RoleAdmin, CreatedAt: engram.Now()}
	if err := store.CreateAPIKey(ctx, key); err != nil {
		return err
	}
	if err := auditBootstrap(ctx, store, projectID, "key.create", key.ID); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Created the first admin API key. It is shown only this once; keep it:\n\n  %s\n\n", secret)
	return nil
}

// configureProviders registers the scripted model always, and each real
// provider from its ecosystem's usual variables.
func configureProviders(e *invocation) (*provider.Registry, error) {
	timeout := 120 * time.Second
	if v := e.getenv("ENGRAM_PROVIDER_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("ENGRAM_PROVIDER_TIMEOUT %q is not a duration such as 90s", v)
		}
		timeout = d
	}
	reg := provider.NewRegistry(scripted.New())
	if key, base := e.getenv("OPENAI_API_KEY"), e.getenv("OPENAI_BASE_URL"); key != "" || base != "" {
		reg.Add(openaiprovider.New(openaiprovider.Config{Name: "openai", APIKey: key, BaseURL: base, API: e.env("OPENAI_API", "responses"), Timeout: timeout}))
	}
	if key, base := e.getenv("ANTHROPIC_API_KEY"), e.getenv("ANTHROPIC_BASE_URL"); key != "" || base != "" {
		reg.Add(anthropic.New(anthropic.Config{APIKey: key, BaseURL: base, Timeout: timeout}))
	}
	// Ollama speaks OpenAI's Chat Completions at /v1 of its host; it is
	// registered always, as its local default is where people run it.
	host := e.env("OLLAMA_HOST", "http://127.0.0.1:11434")
	if !strings.Contains(host, "://") {
		host = "http://" + host
	}
	reg.Add(openaiprovider.New(openaiprovider.Config{Name: "ollama", BaseURL: strings.TrimSuffix(host, "/") + "/v1", APIKey: "ollama", API: "chat", Timeout: timeout}))
	return reg, nil
}
