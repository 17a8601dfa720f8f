// Command engram is the Engram server and its command-line client.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if err != errUsage {
			fmt.Fprintln(os.Stderr, "engram:", err)
		}
		os.Exit(2)
	}
}

// errUsage reports that usage was already printed.
var errUsage = fmt.Errorf("usage")

// command is one subcommand of engram.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *invocation, args []string) error
}

// invocation is what a subcommand gets from the process: arguments aside,
// everything it may read or write, so tests run commands in-process.
type invocation struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// env returns the variable's value, or def when it is unset or empty.
func (e *invocation) env(name, def string) string {
	if v := e.getenv(name); v != "" {
		return v
	}
	return def
}

func commands() []command {
	return []command{
		{"serve", "run the Engram server", runServe},
		{"chat", "chat with a model or agent, keeping the conversation", runChat},
		{"agents", "list, show, create, update and delete agents", runAgents},
		{"conversations", "list, show and delete conversations", runConversations},
		{"keys", "create, list and revoke API keys", runKeys},
		{"projects", "create, list and show projects; rename them; set or clear the JWT issuer they trust", runProjects},
		{"runs", "list, show, watch, cancel and approve runs (responses)", runRuns},
		{"memory", "list, add, search and delete memory records; edit memory blocks; extraction status", runMemory},
		{"usage", "token usage totals and what keeping state saved", runUsage},
		{"policies", "validate, apply, list, show, delete and evaluate the Cedar policies that decide tool calls", runPolicies},
		{"retention", "how long conversations, responses and stream events are kept; what purges deleted", runRetention},
		{"audit", "list, export and verify the hash-chained audit log", runAudit},
		{"bench", "measure the runtime's own cost per turn", runBench},
		{"migrate", "move a SQLite store into PostgreSQL, verified row by row", runMigrate},
		{"secrets", "re-seal connectors' credentials under a new master key (rotate); make a key (keygen)", runSecrets},
	}
}

// run is the whole program; main only supplies the process's environment.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	inv := &invocation{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, inv, args[1:])
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprint(w, `engram: a stateful runtime for AI agents, serving the OpenAI Responses API over any model.

Usage: engram <command> [flags]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Run "engram <command> -h" for a command's flags.

Environment:
  ENGRAM_ADDR        address to listen on (serve) or reach (client commands); default 127.0.0.1:8080
  ENGRAM_DATA        data directory for the embedded SQLite store (and the node id); default ./engram-data
  ENGRAM_DATABASE_URL  postgres://…: keep the state in PostgreSQL instead; servers sharing it are replicas
  ENGRAM_ADMIN_KEY   seeds an admin API key (serve); without it the first start creates one and prints it once
  ENGRAM_URL         base URL for client commands; default http://$ENGRAM_ADDR
  ENGRAM_API_KEY     API key for client commands
  OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_API (responses|chat)   the openai/ provider
  ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL                         the anthropic/ provider
  OLLAMA_HOST                                                   the ollama/ provider (OpenAI-compatible chat)
  ENGRAM_PROVIDER_TIMEOUT                                       longest a model call may take, retries included; default 120s
  ENGRAM_EMBEDDINGS_MODEL (openai/NAME or ollama/NAME), ENGRAM_EMBEDDINGS_URL, ENGRAM_EMBEDDINGS_KEY
                     the embedding model for memory search (default: none; full-text and recency only)
  ENGRAM_NODE_ID, ENGRAM_LEASE                                  this node's name in run leases; how long a lease lasts (15s)
  ENGRAM_MASTER_KEY  the master key sealing connectors' credentials (32 bytes, base64 or hex); default: DATA/master.key, made 0600 on first start
  ENGRAM_MASTER_KEY_PREVIOUS  older master keys, comma-separated: still opened, never sealed under (rotation: engram secrets rotate)
  ENGRAM_RETENTION_INTERVAL                                     how often retention purges (1h; 0 turns it off; policies: engram retention)
  ENGRAM_MCP_ALLOW_STDIO=1                                      let mcp connectors start stdio servers (commands on this host); off by default
  ENGRAM_MCP_CONNECT_TIMEOUT, ENGRAM_MCP_CALL_TIMEOUT, ENGRAM_MCP_IDLE_TIMEOUT   MCP session limits (30s, 5m, 10m; docs/mcp.md)
  The scripted/ provider (a deterministic offline test model) is always available.
`)
}
