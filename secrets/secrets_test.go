package secrets_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/secrets"
	"github.com/engram-run/engram/sqlite"
)

var ctx = context.Background()

func key(b byte) []byte { return bytes.Repeat([]byte{b}, secrets.KeySize) }

func newBox(t *testing.T, current []byte, previous ...[]byte) *secrets.Box {
	t.Helper()
	b, err := secrets.NewBox(current, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealOpen(t *testing.T) {
	box := newBox(t, key(1))
	want := engram.Secret{Headers: map[string]string{"Authorization": "Bearer tok-ada"}, Fields: map[string]string{"password": "hunter2"}}
	c, err := box.Seal("proj_a", "conn_a", "ada", want)
	if err != nil {
		t.Fatal(err)
	}
	if c.KeyID != secrets.KeyID(key(1)) || len(c.KeyID) != 16 {
		t.Errorf("key id %q", c.KeyID)
	}
	if bytes.Contains(c.Sealed, []byte("tok-ada")) || bytes.Contains(c.Sealed, []byte("hunter2")) {
		t.Fatal("the sealed credential holds the secret in clear")
	}
	got, err := box.Open(c)
	if err != nil {
		t.Fatal(err)
	}
	if got.Headers["Authorization"] != "Bearer tok-ada" || got.Fields["password"] != "hunter2" {
		t.Errorf("opened %+v", got)
	}
	// A fresh nonce each time: the same secret never seals the same way.
	c2, _ := box.Seal("proj_a", "conn_a", "ada", want)
	if bytes.Equal(c.Sealed[:12], c2.Sealed[:12]) || bytes.Equal(c.Sealed, c2.Sealed) {
		t.Error("two seals share a nonce")
	}

	// Moved to another place, altered, or under an unknown key: refused,
	// and the error never holds the secret.
	for name, change := range map[string]func(c *engram.Credential){
		"other user":      func(c *engram.Credential) { c.User = "bob" },
		"shared":          func(c *engram.Credential) { c.User = "" },
		"other connector": func(c *engram.Credential) { c.ConnectorID = "conn_b" },
		"other project":   func(c *engram.Credential) { c.ProjectID = "proj_b" },
		"flipped bit":     func(c *engram.Credential) { c.Sealed[len(c.Sealed)-1] ^= 1 },
		"truncated":       func(c *engram.Credential) { c.Sealed = c.Sealed[:10] },
		"unknown key":     func(c *engram.Credential) { c.KeyID = "0123456789abcdef" },
	} {
		moved := *c
		moved.Sealed = bytes.Clone(c.Sealed)
		change(&moved)
		_, err := box.Open(&moved)
		if err == nil {
			t.Errorf("%s: opened", name)
		} else if strings.Contains(err.Error(), "tok-ada") {
			t.Errorf("%s: the error shows the secret: %v", name, err)
		}
	}
	if _, err := secrets.NewBox(make([]byte, 16)); err == nil {
		t.Error("a 16-byte key was taken")
	}
}

func TestParseKey(t *testing.T) {
	k := key(9)
	for _, s := range []string{hex.EncodeToString(k), base64.StdEncoding.EncodeToString(k), base64.RawURLEncoding.EncodeToString(k), " " + hex.EncodeToString(k) + "\n"} {
		got, err := secrets.ParseKey(s)
		if err != nil || !bytes.Equal(got, k) {
			t.Errorf("ParseKey(%q) = %x, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "short", base64.StdEncoding.EncodeToString(make([]byte, 16)), hex.EncodeToString(make([]byte, 31)) + "zz"} {
		if _, err := secrets.ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) took it", s)
		}
	}
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadBox(t *testing.T) {
	dir := t.TempDir()
	// No key anywhere: one is made in the data directory, 0600, and kept.
	box, source, err := secrets.LoadBox(env(nil), dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, secrets.KeyFileName)
	info, err := os.Stat(path)
	if err != nil || source != path {
		t.Fatalf("key file: %v, source %q", err, source)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %04o", info.Mode().Perm())
	}
	again, _, err := secrets.LoadBox(env(nil), dir)
	if err != nil || again.KeyID() != box.KeyID() {
		t.Fatalf("second start: %v, key %s then %s", err, box.KeyID(), again.KeyID())
	}
	// A key file others may read is refused.
	must(t, os.Chmod(path, 0o640))
	if _, _, err := secrets.LoadBox(env(nil), dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a group-readable key file: %v", err)
	}
	// ENGRAM_MASTER_KEY wins; previous keys open but do not seal.
	cur, prev := key(3), key(4)
	box, source, err = secrets.LoadBox(env(map[string]string{"ENGRAM_MASTER_KEY": base64.StdEncoding.EncodeToString(cur),
		"ENGRAM_MASTER_KEY_PREVIOUS": hex.EncodeToString(prev) + "," + hex.EncodeToString(key(5))}), dir)
	if err != nil || source != "ENGRAM_MASTER_KEY" {
		t.Fatal(err, source)
	}
	if box.KeyID() != secrets.KeyID(cur) || !box.Knows(secrets.KeyID(prev)) || !box.Knows(secrets.KeyID(key(5))) || box.Knows(secrets.KeyID(key(6))) {
		t.Error("the ring is not current + previous")
	}
	if _, _, err := secrets.LoadBox(env(map[string]string{"ENGRAM_MASTER_KEY": "not-a-key"}), dir); err == nil || !strings.Contains(err.Error(), "ENGRAM_MASTER_KEY") {
		t.Errorf("a bad ENGRAM_MASTER_KEY: %v", err)
	}
	if _, _, err := secrets.LoadBox(env(map[string]string{"ENGRAM_MASTER_KEY": hex.EncodeToString(cur), "ENGRAM_MASTER_KEY_PREVIOUS": "nope"}), dir); err == nil {
		t.Error("a bad previous key was taken")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func openStore(t *testing.T) *sqlite.DB {
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "engram.db"))
	must(t, err)
	t.Cleanup(func() { db.Close() })
	must(t, db.CreateProject(ctx, &engram.Project{ID: "proj_a", Name: "a", CreatedAt: engram.Now()}))
	return db
}

func put(t *testing.T, db *sqlite.DB, box *secrets.Box, connID, user, token string) {
	t.Helper()
	c, err := box.Seal("proj_a", connID, user, engram.Secret{Headers: map[string]string{"Authorization": token}})
	must(t, err)
	must(t, db.PutCredential(ctx, c))
}

func TestResolveOnBehalfOf(t *testing.T) {
	db := openStore(t)
	box := newBox(t, key(1))
	shared := &engram.Connector{ID: "conn_s", ProjectID: "proj_a", Name: "shared", Kind: engram.ConnectorHTTP}
	perUser := &engram.Connector{ID: "conn_p", ProjectID: "proj_a", Name: "peruser", Kind: engram.ConnectorHTTP, PerUser: true}
	bare := &engram.Connector{ID: "conn_b", ProjectID: "proj_a", Name: "bare", Kind: engram.ConnectorHTTP}
	for _, c := range []*engram.Connector{shared, perUser, bare} {
		must(t, db.CreateConnector(ctx, c))
	}
	put(t, db, box, "conn_s", "", "shared-token")
	put(t, db, box, "conn_s", "ada", "ada-token")
	put(t, db, box, "conn_p", "", "never-used")
	put(t, db, box, "conn_p", "ada", "ada-own")
	r := &secrets.Connectors{Store: db, Box: box}

	for _, tc := range []struct{ name, user, want, whose string }{
		{"shared", "ada", "ada-token", "ada"},
		{"shared", "bob", "shared-token", ""},
		{"shared", "", "shared-token", ""},
		{"peruser", "ada", "ada-own", "ada"},
		{"bare", "ada", "", ""},
	} {
		got, err := r.Resolve(ctx, "proj_a", tc.name, tc.user)
		if err != nil {
			t.Errorf("%s for %q: %v", tc.name, tc.user, err)
			continue
		}
		if got.Secret.Headers["Authorization"] != tc.want || got.User != tc.whose || got.Connector.Name != tc.name {
			t.Errorf("%s for %q: %+v", tc.name, tc.user, got)
		}
	}
	// A per-user connector never falls back to the shared credential.
	for _, user := range []string{"bob", ""} {
		_, err := r.Resolve(ctx, "proj_a", "peruser", user)
		if engram.ErrorCode(err) != engram.EForbidden {
			t.Errorf("peruser for %q: %v", user, err)
		}
	}
	if _, err := r.Resolve(ctx, "proj_a", "peruser", "bob"); err == nil || !strings.Contains(err.Error(), "connector peruser needs a credential for user bob") {
		t.Errorf("message: %v", err)
	}
	if _, err := r.Resolve(ctx, "proj_a", "missing", "ada"); engram.ErrorCode(err) != engram.ENotFound {
		t.Errorf("missing: %v", err)
	}
	if _, err := r.Resolve(ctx, "proj_other", "shared", "ada"); engram.ErrorCode(err) != engram.ENotFound {
		t.Errorf("another project's: %v", err)
	}
}

func TestRotate(t *testing.T) {
	db := openStore(t)
	old := newBox(t, key(1))
	must(t, db.CreateConnector(ctx, &engram.Connector{ID: "conn_a", ProjectID: "proj_a", Name: "a", Kind: engram.ConnectorHTTP}))
	users := []string{"", "ada", "bob", "carol", "dan"}
	for _, u := range users {
		put(t, db, old, "conn_a", u, "token-"+u)
	}
	// Without the old key, rotation stops and says which key it needs.
	if _, err := secrets.Rotate(ctx, db, newBox(t, key(2)), 2, nil); err == nil || !strings.Contains(err.Error(), old.KeyID()) {
		t.Errorf("rotation without the old key: %v", err)
	}
	box := newBox(t, key(2), key(1))
	n, err := secrets.Rotate(ctx, db, box, 2, engram.StoreAuditor{Store: db})
	if err != nil || n != len(users) {
		t.Fatalf("Rotate = %d, %v", n, err)
	}
	if n, err := secrets.Rotate(ctx, db, box, 2, engram.StoreAuditor{Store: db}); err != nil || n != 0 {
		t.Errorf("second Rotate = %d, %v", n, err)
	}
	// Each re-sealing is in the project's audit log, once.
	entries, _, err := db.ListAudit(ctx, "proj_a", engram.AuditFilter{Action: "secrets.rotate"})
	must(t, err)
	if len(entries) != len(users) || entries[1].Resource != "conn_a/ada" || !strings.Contains(string(entries[1].Details), old.KeyID()) {
		t.Errorf("audit after rotation: %d entries, %+v", len(entries), entries)
	}
	// Everything opens with the new key alone.
	newOnly := newBox(t, key(2))
	r := &secrets.Connectors{Store: db, Box: newOnly}
	for _, u := range users {
		c, err := db.GetCredential(ctx, "proj_a", "conn_a", u)
		must(t, err)
		if c.KeyID != newOnly.KeyID() {
			t.Errorf("%q still under %s", u, c.KeyID)
		}
		got, err := r.Resolve(ctx, "proj_a", "a", u)
		must(t, err)
		if got.Secret.Headers["Authorization"] != "token-"+u {
			t.Errorf("%q opens to %v", u, got.Secret)
		}
	}
}

// FuzzParseKey: whatever ENGRAM_MASTER_KEY holds, ParseKey returns a
// 32-byte key or an error, never a key of another size.
func FuzzParseKey(f *testing.F) {
	f.Add(hex.EncodeToString(key(1)))
	f.Add(base64.StdEncoding.EncodeToString(key(2)))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := secrets.ParseKey(s)
		if err == nil && len(k) != secrets.KeySize {
			t.Fatalf("ParseKey(%q) gave %d bytes", s, len(k))
		}
	})
}

// FuzzOpen: a damaged sealed blob is an error, never a panic; only a blob
// the key sealed opens (the seed is one; the fuzzing workers seal their own
// with other nonces, so it is told by what it opens to).
func FuzzOpen(f *testing.F) {
	box, _ := secrets.NewBox(key(1))
	c, _ := box.Seal("p", "c", "u", engram.Secret{Headers: map[string]string{"A": "b"}})
	f.Add(c.Sealed)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, sealed []byte) {
		s, err := box.Open(&engram.Credential{ProjectID: "p", ConnectorID: "c", User: "u", KeyID: box.KeyID(), Sealed: sealed})
		if err == nil && (len(s.Headers) != 1 || s.Headers["A"] != "b") {
			t.Fatalf("a forged blob opened to %v", s)
		}
	})
}

// BenchmarkResolve: what on-behalf-of costs a tool call on SQLite (two
// reads and one AES-GCM open).
func BenchmarkResolve(b *testing.B) {
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "engram.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.CreateProject(ctx, &engram.Project{ID: "proj_a", Name: "a", CreatedAt: engram.Now()}); err != nil {
		b.Fatal(err)
	}
	box, _ := secrets.NewBox(key(1))
	if err := db.CreateConnector(ctx, &engram.Connector{ID: "conn_a", ProjectID: "proj_a", Name: "a", Kind: engram.ConnectorHTTP, PerUser: true}); err != nil {
		b.Fatal(err)
	}
	c, _ := box.Seal("proj_a", "conn_a", "ada", engram.Secret{Headers: map[string]string{"Authorization": "Bearer x"}})
	if err := db.PutCredential(ctx, c); err != nil {
		b.Fatal(err)
	}
	r := &secrets.Connectors{Store: db, Box: box}
	for b.Loop() {
		if _, err := r.Resolve(ctx, "proj_a", "a", "ada"); err != nil {
			b.Fatal(err)
		}
	}
}
