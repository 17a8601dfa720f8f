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
	"runtime/pprof"
	"strings"
	"time"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/bench"
	"github.com/jackc/pgx/v5"
)

func runBench(ctx context.Context, e *invocation, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var cfg bench.Config
	fs.IntVar(&cfg.Turns, "turns", 1000, "turns each grown conversation reaches")
	fs.IntVar(&cfg.Growers, "growers", 4, "conversations grown to -turns (latency samples)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 64, "conversations at once in the throughput phase")
	fs.DurationVar(&cfg.Duration, "duration", 3*time.Second, "length of the throughput phase")
	fs.IntVar(&cfg.MessageBytes, "message-bytes", 400, "size of each user message")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	keep := fs.String("data", "", "run on this new data directory and keep it for inspection (default: a temporary one, removed after)")
	dbURL := fs.String("database-url", "", "run on PostgreSQL: a server URL (postgres://…); the bench creates a database of its own there and drops it after")
	replicas := fs.Int("replicas", 1, "servers sharing the store (PostgreSQL only); turns go to them in turn")
	fs.Usage = func() {
		fmt.Fprint(e.stderr, `Usage: engram bench [flags]

Measures Engram's own cost per turn: it starts a server on a fresh SQLite
store in a temporary directory (or on a fresh PostgreSQL database with
-database-url, and -replicas servers sharing it), on 127.0.0.1, with the
scripted model (which answers instantly, so every millisecond measured is
Engram's), and drives it over HTTP as a client would. It reports p50/p99 per
turn at turn 10 and at turn -turns of one conversation, turns/s and p50/p99
with -concurrency conversations at once, bytes on disk per turn against the
raw text, and resident memory.

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
	dir := *keep
	if dir == "" {
		tmp, err := os.MkdirTemp("", "engram-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("-data %s is not empty: the bench needs a fresh store", dir)
	}

	if *replicas < 1 || *replicas > 1 && *dbURL == "" {
		return fmt.Errorf("-replicas %d: several replicas need -database-url (PostgreSQL)", *replicas)
	}
	sc := storeConfig{dir: dir}
	cfg.Store = "SQLite"
	if *dbURL != "" {
		u, drop, err := benchDatabase(ctx, *dbURL)
		if err != nil {
			return err
		}
		defer drop()
		sc.databaseURL, cfg.Store = u, "PostgreSQL"
	}

	const key = "sk-engram-bench-admin-key"
	var apps []*app
	defer func() {
		for _, a := range apps {
			a.Close()
		}
	}()
	for i := range *replicas {
		benchEnv := &invocation{getenv: func(k string) string {
			switch k {
			case "ENGRAM_ADMIN_KEY":
				return key
			case "ENGRAM_NODE_ID":
				return fmt.Sprintf("bench-%d", i)
			}
			return ""
		}, stdin: e.stdin, stdout: e.stdout, stderr: e.stderr}
		a, err := openApp(ctx, benchEnv, sc, slog.New(slog.DiscardHandler))
		if err != nil {
			return err
		}
		apps = append(apps, a)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: a.handler}
		go srv.Serve(ln)
		defer srv.Close()
		cfg.BaseURLs = append(cfg.BaseURLs, "http://"+ln.Addr().String())
	}
	cfg.APIKey = key
	// Both stores tell their size on disk (SQLite after folding its
	// write-ahead log in).
	cfg.DiskBytes = func() (int64, error) {
		return apps[0].store.(interface {
			Size(context.Context) (int64, error)
		}).Size(ctx)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	res, err := bench.Run(ctx, cfg, e.stderr)
	if err != nil {
		return err
	}
	res.Print(e.stdout)
	return nil
}

// benchDatabase makes a new database on the PostgreSQL server at serverURL
// for one bench run, and returns its URL and how to drop it.
func benchDatabase(ctx context.Context, serverURL string) (string, func(), error) {
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return "", nil, fmt.Errorf("-database-url: %w", err)
	}
	defer conn.Close(ctx)
	name := strings.ToLower(engram.NewID("engram_bench"))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("creating the bench's database (the user needs CREATEDB): %w", err)
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		conn, err := pgx.Connect(context.Background(), serverURL)
		if err != nil {
			return
		}
		defer conn.Close(context.Background())
		conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	}
	return u.String(), drop, nil
}
