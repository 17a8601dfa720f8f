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
	"runtime/pprof"
	"time"

	"github.com/engram-run/engram/bench"
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
	fs.Usage = func() {
		fmt.Fprint(e.stderr, `Usage: engram bench [flags]

Measures Engram's own cost per turn: it starts a server on a fresh SQLite
store in a temporary directory, on 127.0.0.1, with the scripted model (which
answers instantly, so every millisecond measured is Engram's), and drives it
over HTTP as a client would. It reports p50/p99 per turn at turn 10 and at
turn -turns of one conversation, turns/s with -concurrency conversations at
once, bytes on disk per turn against the raw text, and resident memory.

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

	const key = "sk-engram-bench-admin-key"
	benchEnv := &invocation{getenv: func(k string) string {
		if k == "ENGRAM_ADMIN_KEY" {
			return key
		}
		return ""
	}, stdin: e.stdin, stdout: e.stdout, stderr: e.stderr}
	a, err := openApp(ctx, benchEnv, dir, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: a.handler}
	go srv.Serve(ln)
	defer srv.Close()

	cfg.BaseURL, cfg.APIKey = "http://"+ln.Addr().String(), key
	cfg.DiskBytes = func() (int64, error) {
		// The write-ahead log is transient: fold it into the database
		// first, so the figure is what the data takes.
		if err := a.store.Checkpoint(ctx); err != nil {
			return 0, err
		}
		var n int64
		for _, name := range []string{"engram.db", "engram.db-wal"} {
			if fi, err := os.Stat(filepath.Join(dir, name)); err == nil {
				n += fi.Size()
			}
		}
		return n, nil
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
