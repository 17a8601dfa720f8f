package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/engram-run/engram/postgres"
	"github.com/engram-run/engram/sqlite"
	"github.com/engram-run/engram/storecopy"
)

// runMigrate moves a SQLite store into PostgreSQL: "engram migrate".
func runMigrate(ctx context.Context, e *invocation, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	from := fs.String("from", "", "the SQLite store: sqlite:PATH, PATH a database file or a data directory (its engram.db)")
	to := fs.String("to", "", "the PostgreSQL database: postgres://user:password@host:port/db?…; it must be new and empty")
	quiet := fs.Bool("quiet", false, "print nothing but errors")
	fs.Usage = func() {
		fmt.Fprint(e.stderr, `Usage: engram migrate --from sqlite:PATH --to postgres://…

Copies everything in a SQLite store into a PostgreSQL database: every table,
in one transaction (a failed copy leaves the database empty), then has
PostgreSQL build its search indexes from the copied rows, then reads every
table back on both sides and compares them row by row (counts and a
SHA-256 of each table's rows in key order). Progress goes to stderr.

Stop the server using the SQLite store first: the copy is of one snapshot.
The target must be empty; a target that already holds exactly this store (a
migration run again) is only checked. Usage records, the retention log and
every id move as they are; nothing is renamed.

Then start Engram on PostgreSQL with ENGRAM_DATABASE_URL=postgres://….

Flags:
`)
		fs.PrintDefaults()
	}
	if positional, done, err := parseFlags(fs, args); done {
		return err
	} else if len(positional) > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected argument %q", positional[0])
	}
	path, ok := strings.CutPrefix(*from, "sqlite:")
	if !ok || path == "" {
		fs.Usage()
		return errors.New("--from must be sqlite:PATH")
	}
	if !strings.HasPrefix(*to, "postgres://") && !strings.HasPrefix(*to, "postgresql://") {
		fs.Usage()
		return errors.New("--to must be a postgres:// URL")
	}
	if info, err := os.Stat(path); err != nil {
		return fmt.Errorf("the SQLite store: %w", err)
	} else if info.IsDir() {
		path = filepath.Join(path, "engram.db")
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("the SQLite store: %w", err)
		}
	}
	var progress io.Writer = e.stderr
	if *quiet {
		progress = nil
	}
	src, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := postgres.Open(ctx, *to)
	if err != nil {
		return err
	}
	defer dst.Close()
	start := time.Now()
	report, err := storecopy.Migrate(ctx, src, dst, storecopy.Options{Progress: progress})
	if err != nil {
		return err
	}
	if !*quiet {
		verb := "Migrated"
		if !report.Copied {
			verb = "Already migrated; verified"
		}
		fmt.Fprintf(e.stdout, "%s %d rows in %d tables from %s in %s: counts and content hashes match.\n",
			verb, report.Rows(), len(report.Tables), path, time.Since(start).Round(time.Millisecond))
	}
	return nil
}
