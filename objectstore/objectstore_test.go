package objectstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/objectstore"
)

const bucket = "engram-hives"

// stubConnectors is a stand-in for connector resolution only (the real
// one, over the store and sealed credentials, is secrets.Connectors): it
// maps a connector name, or "name/user" for a user's own credential, to
// what Resolve returns, and refuses a per-user connector without one.
type stubConnectors map[string]*engram.ResolvedConnector

func (s stubConnectors) Resolve(_ context.Context, _, name, user string) (*engram.ResolvedConnector, error) {
	if rc, ok := s[name+"/"+user]; ok && user != "" {
		return rc, nil
	}
	rc, ok := s[name]
	if !ok {
		return nil, engram.Errorf(engram.ENotFound, "connector %q not found", name)
	}
	if rc.Connector.PerUser {
		return nil, engram.Errorf(engram.EForbidden, "connector %s needs a credential for user %s", name, user)
	}
	return rc, nil
}

// fakeS3 is an in-memory S3 (gofakes3) on 127.0.0.1 that records the
// access key each request was signed with (gofakes3 does not check
// signatures) and answers AccessDenied, as S3 does, to requests signed
// with a key in denied.
type fakeS3 struct {
	URL    string
	mu     sync.Mutex
	keys   []string
	denied map[string]bool
}

var credentialRE = regexp.MustCompile(`Credential=([^/]+)/`)

func newFakeS3(t testing.TB) *fakeS3 {
	t.Helper()
	f := &fakeS3{denied: map[string]bool{}}
	s3 := gofakes3.New(s3mem.New()).Server()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := ""
		if m := credentialRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
			key = m[1]
		}
		f.mu.Lock()
		f.keys = append(f.keys, key)
		denied := f.denied[key]
		f.mu.Unlock()
		if denied {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>R1</RequestId></Error>`)
			return
		}
		s3.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	f.URL = ts.URL
	if _, err := f.client().CreateBucket(context.Background(), &s3CreateBucket); err != nil {
		t.Fatal(err)
	}
	return f
}

var s3CreateBucket = s3.CreateBucketInput{Bucket: aws.String(bucket)}

// client is a direct client, to see the bucket as it is.
func (f *fakeS3) client() *s3.Client {
	return s3.New(s3.Options{Region: "us-east-1", UsePathStyle: true, BaseEndpoint: aws.String(f.URL),
		Credentials: credentials.NewStaticCredentialsProvider("ADMIN", "admin-secret", "")})
}

func (f *fakeS3) put(t testing.TB, key string, body []byte) {
	t.Helper()
	if _, err := f.client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: &key, Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
}

func (f *fakeS3) object(t testing.TB, key string) (string, bool) {
	t.Helper()
	out, err := f.client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: &key})
	if err != nil {
		return "", false
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	return string(b), true
}

func (f *fakeS3) lastKey() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.keys[len(f.keys)-1]
}

func (f *fakeS3) connector(name string, config map[string]any, keyID string) *engram.ResolvedConnector {
	cfg := map[string]any{"endpoint": f.URL, "region": "us-east-1", "bucket": bucket, "path_style": true, "allow_private": true}
	for k, v := range config {
		cfg[k] = v
	}
	b, _ := json.Marshal(cfg)
	rc := &engram.ResolvedConnector{Connector: &engram.Connector{Name: name, Kind: engram.ConnectorS3, Config: b}}
	if keyID != "" {
		rc.Secret.Fields = map[string]string{"access_key_id": keyID, "secret_access_key": keyID + "-secret"}
	}
	return rc
}

func call(conn, user, args string) engram.ToolCall {
	return engram.ToolCall{ProjectID: "proj_1", User: user, Connector: conn, Arguments: json.RawMessage(args)}
}

func do(t *testing.T, tl engram.Tool, c engram.ToolCall) map[string]any {
	t.Helper()
	out, err := tl.Call(context.Background(), c)
	if err != nil {
		t.Fatalf("Call(%s): %v", c.Arguments, err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("result %s: %v", out, err)
	}
	return m
}

// fails asserts the call comes back as an error of code saying want.
func fails(t *testing.T, tl engram.Tool, c engram.ToolCall, code, want string) {
	t.Helper()
	out, err := tl.Call(context.Background(), c)
	if engram.ErrorCode(err) != code {
		t.Errorf("Call(%s) = %s, %v; want a %s error", c.Arguments, out, err, code)
		return
	}
	if !strings.Contains(engram.ErrorMessage(err), want) {
		t.Errorf("Call(%s) error %q does not say %q", c.Arguments, engram.ErrorMessage(err), want)
	}
}

func keys(m map[string]any) string {
	var ks []string
	for _, e := range m["keys"].([]any) {
		ks = append(ks, e.(map[string]any)["key"].(string))
	}
	return strings.Join(ks, ",")
}

func TestRoundTrip(t *testing.T) {
	f := newFakeS3(t)
	tl := objectstore.Tool(stubConnectors{"bucket": f.connector("bucket", nil, "AKIDSHARED")})

	put := do(t, tl, call("bucket", "ada", `{"op":"put","key":"notes/hive2.txt","body":"Hive 2 is queenless.","content_type":"text/markdown"}`))
	if put["key"] != "notes/hive2.txt" || put["size"] != float64(20) {
		t.Errorf("put = %v", put)
	}
	if body, _ := f.object(t, "notes/hive2.txt"); body != "Hive 2 is queenless." {
		t.Errorf("stored %q", body)
	}
	f.put(t, "notes/hive1.txt", []byte("ok"))
	f.put(t, "photos/a.jpg", []byte{0xff, 0xd8, 0xff, 0x00})

	get := do(t, tl, call("bucket", "ada", `{"op":"get","key":"notes/hive2.txt"}`))
	if get["body"] != "Hive 2 is queenless." || get["content_type"] != "text/markdown" || get["truncated"] != false || get["size"] != float64(20) {
		t.Errorf("get = %v", get)
	}
	bin := do(t, tl, call("bucket", "ada", `{"op":"get","key":"photos/a.jpg"}`))
	if bin["encoding"] != "base64" || bin["body"] != "/9j/AA==" {
		t.Errorf("binary get = %v", bin)
	}
	if got := keys(do(t, tl, call("bucket", "ada", `{"op":"list","prefix":"notes/"}`))); got != "notes/hive1.txt,notes/hive2.txt" {
		t.Errorf("list notes/ = %s", got)
	}
	if got := keys(do(t, tl, call("bucket", "ada", `{"op":"list"}`))); got != "notes/hive1.txt,notes/hive2.txt,photos/a.jpg" {
		t.Errorf("list = %s", got)
	}
	del := do(t, tl, call("bucket", "ada", `{"op":"delete","key":"notes/hive2.txt"}`))
	if del["deleted"] != true {
		t.Errorf("delete = %v", del)
	}
	if _, ok := f.object(t, "notes/hive2.txt"); ok {
		t.Error("the object is still there after delete")
	}
	fails(t, tl, call("bucket", "ada", `{"op":"get","key":"notes/hive2.txt"}`), engram.EInvalid, `no object has the key "notes/hive2.txt"`)
	if f.lastKey() != "AKIDSHARED" {
		t.Errorf("signed with %q, want the connector's key", f.lastKey())
	}
}

func TestListPages(t *testing.T) {
	f := newFakeS3(t)
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		f.put(t, "k/"+k, []byte(k))
	}
	tl := objectstore.Tool(stubConnectors{"bucket": f.connector("bucket", nil, "AKID")})
	first := do(t, tl, call("bucket", "", `{"op":"list","prefix":"k/","max_keys":2}`))
	if keys(first) != "k/a,k/b" || first["truncated"] != true || !strings.Contains(first["note"].(string), `start_after "k/b"`) {
		t.Errorf("first page = %v", first)
	}
	next := do(t, tl, call("bucket", "", `{"op":"list","prefix":"k/","max_keys":2,"start_after":"k/b"}`))
	if keys(next) != "k/c,k/d" {
		t.Errorf("next page = %v", next)
	}
	fails(t, tl, call("bucket", "", `{"op":"list","max_keys":1001}`), engram.EInvalid, "max_keys")
}

func TestPrefixRestriction(t *testing.T) {
	f := newFakeS3(t)
	f.put(t, "agents/other/secret.txt", []byte("not yours"))
	f.put(t, "agents/keeper/old.txt", []byte("mine"))
	tl := objectstore.Tool(stubConnectors{"bucket": f.connector("bucket", map[string]any{"prefix": "agents/keeper/"}, "AKID")})

	do(t, tl, call("bucket", "", `{"op":"put","key":"x.txt","body":"new"}`))
	if body, ok := f.object(t, "agents/keeper/x.txt"); !ok || body != "new" {
		t.Errorf("put under the prefix: %q %v", body, ok)
	}
	if got := keys(do(t, tl, call("bucket", "", `{"op":"list"}`))); got != "old.txt,x.txt" {
		t.Errorf("list = %s, want only the keys under the prefix, relative to it", got)
	}
	if get := do(t, tl, call("bucket", "", `{"op":"get","key":"old.txt"}`)); get["body"] != "mine" {
		t.Errorf("get = %v", get)
	}
	for _, args := range []string{
		`{"op":"get","key":"../other/secret.txt"}`,
		`{"op":"delete","key":"a/../../other/secret.txt"}`,
		`{"op":"list","prefix":"../"}`,
		`{"op":"put","key":"./x","body":""}`,
	} {
		fails(t, tl, call("bucket", "", args), engram.EInvalid, "cannot leave it")
	}
	// A key that only looks like another folder stays under the prefix.
	fails(t, tl, call("bucket", "", `{"op":"get","key":"agents/other/secret.txt"}`), engram.EInvalid, "no object has the key")
	if body, ok := f.object(t, "agents/other/secret.txt"); !ok || body != "not yours" {
		t.Errorf("the object outside the prefix changed: %q %v", body, ok)
	}
}

func TestPerUserCredentials(t *testing.T) {
	f := newFakeS3(t)
	shared := f.connector("bucket", nil, "")
	shared.Connector.PerUser = true
	f.denied["AKIDEVE"] = true
	tl := objectstore.Tool(stubConnectors{
		"bucket":     shared,
		"bucket/ada": f.connector("bucket", nil, "AKIDADA"),
		"bucket/bob": f.connector("bucket", nil, "AKIDBOB"),
		"bucket/eve": f.connector("bucket", nil, "AKIDEVE"),
	})
	for _, user := range []string{"ada", "bob", "ada"} {
		do(t, tl, call("bucket", user, `{"op":"put","key":"`+user+`.txt","body":"hi"}`))
		if want := "AKID" + strings.ToUpper(user); f.lastKey() != want {
			t.Errorf("a call for %s was signed with %q, want %q", user, f.lastKey(), want)
		}
	}
	fails(t, tl, call("bucket", "carol", `{"op":"list"}`), engram.EForbidden, "needs a credential for user carol")
	fails(t, tl, call("bucket", "eve", `{"op":"get","key":"ada.txt"}`), engram.EForbidden, "AccessDenied")
}

func TestLimitsAndFailures(t *testing.T) {
	f := newFakeS3(t)
	f.put(t, "big.txt", []byte(strings.Repeat("é", 20))) // 40 bytes
	tl := &objectstore.ObjectStore{MaxGetBytes: 15, MaxPutBytes: 8, Connectors: stubConnectors{
		"bucket":  f.connector("bucket", nil, "AKID"),
		"nobkt":   f.connector("nobkt", map[string]any{"bucket": "engram-missing"}, "AKID"),
		"down":    f.connector("down", map[string]any{"endpoint": "http://127.0.0.1:1"}, "AKID"),
		"db":      {Connector: &engram.Connector{Name: "db", Kind: engram.ConnectorSQLite, Config: json.RawMessage(`{"path":"x"}`)}},
		"nothing": f.connector("nothing", map[string]any{"bucket": ""}, "AKID"),
	}}
	get := do(t, tl, call("bucket", "", `{"op":"get","key":"big.txt"}`))
	// 15 bytes cut inside the 8th "é": the half rune is dropped.
	if get["body"] != strings.Repeat("é", 7) || get["truncated"] != true || get["size"] != float64(40) || get["note"] == nil {
		t.Errorf("capped get = %v", get)
	}
	fails(t, tl, call("bucket", "", `{"op":"put","key":"p","body":"123456789"}`), engram.EInvalid, "at most 8")
	if _, ok := f.object(t, "p"); ok {
		t.Error("an oversized put was written")
	}
	fails(t, tl, call("nobkt", "", `{"op":"list"}`), engram.EInvalid, `"engram-missing" does not exist`)
	fails(t, tl, call("down", "", `{"op":"get","key":"a"}`), engram.EInvalid, "cannot reach the storage service")
	fails(t, tl, call("db", "", `{"op":"list"}`), engram.EInvalid, `of kind "sqlite"`)
	fails(t, tl, call("nothing", "", `{"op":"list"}`), engram.EInvalid, "names no bucket")
	fails(t, tl, call("", "", `{"op":"list"}`), engram.EInvalid, "names no connector")
	fails(t, tl, call("bucket", "", `{"op":"copy"}`), engram.EInvalid, "op must be")
	fails(t, tl, call("bucket", "", `{"op":"get"}`), engram.EInvalid, "needs a key")
	fails(t, tl, call("bucket", "", `{"op":"get","key":"a","bucket":"other"}`), engram.EInvalid, "unknown field")
}

// FuzzPrefix: whatever the arguments, a tool restricted to a prefix
// neither changes nor shows an object outside it.
func FuzzPrefix(f *testing.F) {
	for _, s := range [][2]string{
		{"get", "../other/secret.txt"}, {"delete", "../other/secret.txt"}, {"put", "/../other/secret.txt"},
		{"delete", "%2e%2e/other/secret.txt"}, {"list", "../"}, {"put", "a/./b"}, {"get", "..\\other\\secret.txt"},
		{"delete", "../../agents/other/secret.txt"}, {"put", "x?y#z"}, {"list", ""},
	} {
		f.Add(s[0], s[1])
	}
	fs := newFakeS3(f)
	fs.put(f, "agents/other/secret.txt", []byte("not yours"))
	tl := &objectstore.ObjectStore{Timeout: 3 * time.Second, Connectors: stubConnectors{"bucket": fs.connector("bucket", map[string]any{"prefix": "agents/keeper/"}, "AKID")}}
	f.Fuzz(func(t *testing.T, op, key string) {
		a, _ := json.Marshal(map[string]any{"op": op, "key": key, "prefix": key, "body": "overwritten"})
		out, err := tl.Call(context.Background(), call("bucket", "", string(a)))
		if err != nil && engram.ErrorCode(err) != engram.EInvalid {
			t.Fatalf("Call(%s): %v", a, err)
		}
		// The answer names keys relative to the prefix: "agents/other" in
		// it is the model's own key echoed back when the model asked for it.
		if strings.Contains(out, "not yours") || (strings.Contains(out, "agents/other") && !strings.Contains(key, "agents/other")) {
			t.Fatalf("Call(%s) showed an object outside the prefix: %s", a, out)
		}
		if body, ok := fs.object(t, "agents/other/secret.txt"); !ok || body != "not yours" {
			t.Fatalf("Call(%s) changed an object outside the prefix: %q %v", a, body, ok)
		}
	})
}

// TestPrivateEndpoint: a connector whose endpoint is not a public address
// is refused at the dial unless it says allow_private, whatever name it
// uses for the address.
func TestPrivateEndpoint(t *testing.T) {
	f := newFakeS3(t)
	port := f.URL[strings.LastIndex(f.URL, ":")+1:]
	conns := stubConnectors{}
	for name, endpoint := range map[string]string{"ip": f.URL, "name": "http://localhost:" + port, "mapped": "http://[::ffff:127.0.0.1]:" + port} {
		conns[name] = f.connector(name, map[string]any{"endpoint": endpoint, "allow_private": false}, "AKID")
	}
	tl := objectstore.Tool(conns)
	f.mu.Lock()
	seen := len(f.keys)
	f.mu.Unlock()
	for name := range conns {
		fails(t, tl, call(name, "", `{"op":"list"}`), engram.EForbidden, "is not a public address")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.keys) != seen {
		t.Errorf("the server got %d requests from refused connectors", len(f.keys)-seen)
	}
}
