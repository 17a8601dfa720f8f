package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/secrets"
)

// runSecrets is "engram secrets": master-key chores, run on the store
// directly (as migrate is): rotation touches every project, which no
// project's API key may do.
func runSecrets(ctx context.Context, e *invocation, args []string) error {
	fs := flag.NewFlagSet("secrets", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	data := fs.String("data", e.env("ENGRAM_DATA", "./engram-data"), "data directory: the SQLite store and master.key (ENGRAM_DATA)")
	dbURL := fs.String("database-url", e.getenv("ENGRAM_DATABASE_URL"), "the PostgreSQL store instead (ENGRAM_DATABASE_URL)")
	batch := fs.Int("batch", 100, "credentials re-sealed per batch")
	fs.Usage = func() {
		fmt.Fprint(e.stderr, `Usage: engram secrets rotate [flags]
       engram secrets keygen

keygen prints a new random master key (32 bytes, base64).

rotate re-seals every connector credential not sealed under the current
master key (ENGRAM_MASTER_KEY, else DATA/master.key) under it, batch by
batch; the old keys must be in ENGRAM_MASTER_KEY_PREVIOUS (comma-separated).
It can be stopped and run again: it picks up what is left, and run again
once done it re-seals nothing. To rotate:

  1. NEW=$(engram secrets keygen)
  2. restart every server with ENGRAM_MASTER_KEY=$NEW and
     ENGRAM_MASTER_KEY_PREVIOUS=<the old key> (they open both, seal with NEW)
  3. run engram secrets rotate with the same variables
  4. restart without ENGRAM_MASTER_KEY_PREVIOUS: the old key is no longer needed

Flags:
`)
		fs.PrintDefaults()
	}
	positional, done, err := parseFlags(fs, args)
	if done {
		return err
	}
	if len(positional) != 1 {
		fs.Usage()
		return errors.New("want one of: rotate, keygen")
	}
	switch positional[0] {
	case "keygen":
		k := make([]byte, secrets.KeySize)
		if _, err := rand.Read(k); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, base64.StdEncoding.EncodeToString(k))
		return nil
	case "rotate":
	default:
		fs.Usage()
		return fmt.Errorf("unknown secrets command %q", positional[0])
	}
	box, source, err := secrets.LoadBox(e.getenv, *data)
	if err != nil {
		return err
	}
	store, storeName, err := openStore(ctx, storeConfig{dir: *data, databaseURL: *dbURL})
	if err != nil {
		return err
	}
	defer store.Close()
	n, err := secrets.Rotate(ctx, store, box, *batch, engram.StoreAuditor{Store: store})
	if err != nil {
		return fmt.Errorf("rotate (%d re-sealed before it stopped; run it again once fixed): %w", n, err)
	}
	fmt.Fprintf(e.stdout, "re-sealed %d credentials under master key %s (from %s; store %s)\n", n, box.KeyID(), source, storeName)
	return nil
}
