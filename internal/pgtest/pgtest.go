// Package pgtest gives tests a real PostgreSQL: the server named by
// ENGRAM_TEST_DATABASE_URL (scripts/test starts one), or else a private
// cluster this test binary starts itself with the machine's PostgreSQL
// (Debian's package) in a temporary directory and stops when it exits.
// There is no skipping: a test that needs PostgreSQL and finds none fails,
// saying how to get one.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

var (
	once      sync.Once
	serverURL string
	serverErr error
	stop      func()
)

// Server returns the URL of a PostgreSQL server for tests (its postgres
// database), starting a private one on first use when none is given.
func Server(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		if u := os.Getenv("ENGRAM_TEST_DATABASE_URL"); u != "" {
			serverURL = u
			return
		}
		serverURL, stop, serverErr = startPrivate()
	})
	if serverErr != nil {
		t.Fatalf("PostgreSQL for tests: %v (set ENGRAM_TEST_DATABASE_URL, or install Debian's postgresql package; scripts/test does both)", serverErr)
	}
	return serverURL
}

// Stop stops the private server, if this binary started one. TestMain
// calls it after m.Run.
func Stop() {
	if dropTemplate != nil {
		dropTemplate()
	}
	if stop != nil {
		stop()
	}
}

// Main runs a test binary's tests and stops the private server after.
// Use it as TestMain in packages whose tests use PostgreSQL.
func Main(m interface{ Run() int }) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Database creates a new, empty database on the test server and returns
// its URL; it is dropped when the test ends. Each test gets its own, so
// tests (and their LISTEN/NOTIFY channels) never meet.
func Database(t testing.TB) string {
	t.Helper()
	return DatabaseFrom(t, "template0")
}

// DatabaseFrom is Database copied from the database template (which no one
// may be connected to): a schema migrated once is cheaper to copy than to
// migrate for every test.
func DatabaseFrom(t testing.TB, template string) string {
	t.Helper()
	base := Server(t)
	name := "engram_test_" + randomHex(6)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to the test server: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+pgx.Identifier{template}.Sanitize()); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// Template makes, once per test binary, a database prepared by setup (given
// its URL), to copy with DatabaseFrom; it is dropped by Stop.
func Template(t testing.TB, setup func(url string) error) string {
	t.Helper()
	templateOnce.Do(func() {
		base := Server(t)
		name := "engram_template_" + randomHex(6)
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			templateErr = err
			return
		}
		defer conn.Close(ctx)
		if _, templateErr = conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0"); templateErr != nil {
			return
		}
		u, err := url.Parse(base)
		if err != nil {
			templateErr = err
			return
		}
		u.Path = "/" + name
		if templateErr = setup(u.String()); templateErr != nil {
			return
		}
		templateName = name
		dropTemplate = func() {
			if conn, err := pgx.Connect(ctx, base); err == nil {
				conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
				conn.Close(ctx)
			}
		}
	})
	if templateErr != nil {
		t.Fatalf("template database: %v", templateErr)
	}
	return templateName
}

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
	dropTemplate func()
)

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// BinDir finds the directory of PostgreSQL's server programs.
func BinDir() (string, error) {
	if d := os.Getenv("ENGRAM_PG_BIN"); d != "" {
		return d, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(matches) > 0 {
		return filepath.Dir(matches[len(matches)-1]), nil
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("no PostgreSQL server programs found (apt-get install -y postgresql)")
}

// Cluster is a private PostgreSQL server in a temporary directory.
type Cluster struct {
	Dir  string
	Port int
	bin  string
	asPG bool // running as root: the server runs as the postgres user
}

// URL is the cluster's postgres database.
func (c *Cluster) URL() string {
	return fmt.Sprintf("postgres://engram@127.0.0.1:%d/postgres?sslmode=disable", c.Port)
}

// NewCluster initialises a cluster (not started) in a new temporary
// directory.
func NewCluster() (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "engram-pg-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, bin: bin}
	if u, err := user.Current(); err == nil && u.Uid == "0" {
		// initdb refuses to run as root.
		c.asPG = true
		if out, err := exec.Command("chown", "-R", "postgres:postgres", dir).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("chown %s: %v: %s", dir, err, out)
		}
	}
	if out, err := c.command("initdb", "-D", filepath.Join(dir, "data"), "-U", "engram", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	if c.Port, err = freePort(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, name)
	if c.asPG {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

// Start starts the server and waits until it accepts connections.
func (c *Cluster) Start() error {
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400", c.Port, c.Dir)
	out, err := c.command("pg_ctl", "-D", filepath.Join(c.Dir, "data"), "-l", filepath.Join(c.Dir, "log"), "-o", opts, "-w", "-t", "60", "start").CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(c.Dir, "log"))
		return fmt.Errorf("pg_ctl start: %v: %s\n%s", err, out, log)
	}
	return nil
}

// Stop stops the server: mode is pg_ctl's (fast, immediate).
func (c *Cluster) Stop(mode string) error {
	out, err := c.command("pg_ctl", "-D", filepath.Join(c.Dir, "data"), "-m", mode, "-w", "-t", "60", "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Remove stops the server if it runs and deletes its directory.
func (c *Cluster) Remove() {
	c.Stop("immediate")
	os.RemoveAll(c.Dir)
}

func startPrivate() (string, func(), error) {
	c, err := NewCluster()
	if err != nil {
		return "", nil, err
	}
	if err := c.Start(); err != nil {
		c.Remove()
		return "", nil, err
	}
	return c.URL(), c.Remove, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
