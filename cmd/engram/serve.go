package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/engram-run/engram"
	enghttp "github.com/engram-run/engram/http"
	"github.com/engram-run/engram/http/openai"
	"github.com/engram-run/engram/memory"
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
	data := fs.String("data", e.env("ENGRAM_DATA", "./engram-data"), "data directory of the SQLite store (ENGRAM_DATA)")
	logLevel := fs.String("log-level", e.env("ENGRAM_LOG_LEVEL", "info"), "log level: debug, info, warn or error (ENGRAM_LOG_LEVEL)")
	fs.Usage = func() {
		fmt.Fprint(e.stderr, "Usage: engram serve [flags]\n\nRuns the Engram server on the embedded SQLite store.\n\nFlags:\n")
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

	a, err := openApp(ctx, e, *data, logger)
	if err != nil {
		return err
	}
	defer a.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: a.handler, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(e.stdout, "engram listening on http://%s (data %s; providers: %s)\n", ln.Addr(), *data, strings.Join(a.providers.Names(), ", "))

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
	store     *sqlite.DB
	providers *provider.Registry
	runtime   *runtime.Runtime
	handler   http.Handler
}

// Close stops the runs executing here (they stay in progress, to resume
// at the next start) and closes the store.
func (a *app) Close() error {
	a.runtime.Stop()
	return a.store.Close()
}

// openApp assembles the server on the SQLite store in dir.
func openApp(ctx context.Context, e *invocation, dir string, logger *slog.Logger) (*app, error) {
	store, err := sqlite.Open(ctx, filepath.Join(dir, "engram.db"))
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
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
	// Runs outlive the request that started them: the pool's context is
	// the process's, ended by Close.
	if err := rt.Start(context.WithoutCancel(ctx)); err != nil {
		store.Close()
		return nil, err
	}
	api := &enghttp.Server{Store: store, Responses: rt, Memory: mem, Logger: logger, ValidateAgent: rt.ValidateAgent, Providers: providers,
		Ready: func(ctx context.Context) error { _, err := store.ListProjects(ctx); return err }}
	return &app{store: store, providers: providers, runtime: rt, handler: api.Handler()}, nil
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
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("keeping the node id: %w", err)
	}
	return id, nil
}

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
		project = &engram.Project{ID: engram.NewID("proj"), Name: "default", CreatedAt: engram.Now()}
		if err := store.CreateProject(ctx, project); err != nil {
			return err
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
		return store.CreateAPIKey(ctx, &engram.APIKey{ID: engram.NewID("key"), ProjectID: project.ID, Name: "admin (ENGRAM_ADMIN_KEY)",
			Prefix: secret[:min(len(secret), 12)], Hash: engram.HashKey(secret), Role: engram.RoleAdmin, CreatedAt: engram.Now()})
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
