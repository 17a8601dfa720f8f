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
	"github.com/engram-run/engram/memory"
	"github.com/engram-run/engram/postgres"
	"github.com/engram-run/engram/provider"
	"github.com/engram-run/engram/provider/anthropic"
	openaiprovider "github.com/engram-run/engram/provider/openai"
	"github.com/engram-run/engram/provider/scripted"
	"github.com/engram-run/engram/runtime"
	"github.com/engram-run/engram/sqlite"
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
	// releaseNode frees this node's id on PostgreSQL (nil on SQLite).
	releaseNode func()
	handler     http.Handler
}

// Close stops the runs executing here (they stay in progress, to resume
// at the next start) and closes the store.
func (a *app) Close() error {
	a.runtime.Stop()
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
	if err := bootstrap(ctx, store, e); err != nil {
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
	mem := &memory.Service{Store: store, Embedder: embedder, Logger: logger}
	rt := runtime.New(store, providers, tool.WithMemory(mem, store), logger)
	rt.Memory = mem
	rt.EncodeEvent = func(ev engram.StreamEvent) []byte { return openai.EncodeEvent(int(ev.Seq), ev) }
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
	api := &enghttp.Server{Store: store, Responses: rt, Memory: mem, Logger: logger, ValidateAgent: rt.ValidateAgent, Providers: providers, Prices: rt.Prices, BudgetsChanged: rt.BudgetsChanged,
		Ready: func(ctx context.Context) error { _, err := store.ListProjects(ctx); return err }}
	return &app{store: store, storeName: storeName, providers: providers, runtime: rt, bus: bus, releaseNode: releaseNode, handler: api.Handler()}, nil
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
// only its hash is kept.
func bootstrap(ctx context.Context, store engram.Store, e *invocation) error {
	projects, err := store.ListProjects(ctx)
	if err != nil {
		return err
	}
	var project *engram.Project
	if len(projects) == 0 {
		// Replicas starting at once on an empty database all get here: the
		// default project has a fixed id, so one creates it and the others
		// find it.
		project = &engram.Project{ID: defaultProjectID, Name: "default", CreatedAt: engram.Now()}
		if err := store.CreateProject(ctx, project); err != nil {
			if engram.ErrorCode(err) != engram.EConflict {
				return err
			}
			if project, err = store.GetProject(ctx, defaultProjectID); err != nil {
				return err
			}
		}
	} else {
		project = projects[0]
	}
	if secret := e.getenv("ENGRAM_ADMIN_KEY"); secret != "" {
		if len(secret) < 16 {
			return fmt.Errorf("ENGRAM_ADMIN_KEY is too short: use at least 16 characters")
		}
		if _, err := store.FindAPIKey(ctx, engram.HashKey(secret)); err == nil {
			return nil
		} else if engram.ErrorCode(err) != engram.ENotFound {
			return err
		}
		err := store.CreateAPIKey(ctx, &engram.APIKey{ID: engram.NewID("key"), ProjectID: project.ID, Name: "admin (ENGRAM_ADMIN_KEY)",
			Prefix: secret[:min(len(secret), 12)], Hash: engram.HashKey(secret), Role: engram.RoleAdmin, CreatedAt: engram.Now()})
		if engram.ErrorCode(err) == engram.EConflict {
			return nil // another replica seeded it meanwhile
		}
		return err
	}
	keys, err := store.ListAPIKeys(ctx, project.ID)
	if err != nil || len(keys) > 0 {
		return err
	}
	secret, shown := engram.NewKeySecret()
	if err := store.CreateAPIKey(ctx, &engram.APIKey{ID: engram.NewID("key"), ProjectID: project.ID, Name: "admin (first start)",
		Prefix: shown, Hash: engram.HashKey(secret), Role: engram.RoleAdmin, CreatedAt: engram.Now()}); err != nil {
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
