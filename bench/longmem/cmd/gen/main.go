// Command gen writes the committed LongMemEval-shaped datasets, byte for
// byte the same on every run.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/engram-run/engram/bench/longmem"
)

func main() {
	out := flag.String("out", "testdata/longmem", "directory to write into")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files, err := longmem.Files()
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
