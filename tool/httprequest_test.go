package tool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/secrets"
	"github.com/engram-run/engram/sqlite"
)

// allowServer admits exactly srv's address past the guard, as if it were
// a public host: everything else on loopback stays refused.
func allowServer(srv *httptest.Server) func(netip.AddrPort) bool {
	want := netip.MustParseAddrPort(strings.TrimPrefix(srv.URL, "http://"))
	return func(ap netip.AddrPort) bool { return ap == want }
}

func hostOf(srv *httptest.Server) string { return strings.TrimPrefix(srv.URL, "http://") }

func callHTTP(t *testing.T, h *HTTPRequest, user string, args map[string]any) (map[string]any, error) {
	t.Helper()
	raw, _ := json.Marshal(args)
	out, err := h.Call(context.Background(), engram.ToolCall{ProjectID: "proj_t", User: user, Arguments: raw})
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("the result is not JSON: %s", out)
	}
	return m, nil
}

func wantRefused(t *testing.T, err error, contains string) {
	t.Helper()
	if engram.ErrorCode(err) != engram.EForbidden {
		t.Fatalf("err = %v, want %s", err, engram.EForbidden)
	}
	if !strings.Contains(err.Error(), contains) {
		t.Errorf("err = %v, want it to say %q", err, contains)
	}
}

func TestPublicAddress(t *testing.T) {
	for _, s := range []string{
		"127.0.0.1", "127.9.9.9", "::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1", "100.127.255.254",
		"169.254.169.254", "169.254.0.1", "fe80::1", "fd00:ec2::254", "fc00::1", "0.0.0.0", "::", "224.0.0.1", "ff02::1",
		"255.255.255.255", "240.0.0.1", "192.0.0.192", "198.18.0.1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1",
		"64:ff9b::7f00:1", "2002:7f00:1::", "::7f00:1", "fec0::1",
	} {
		if PublicAddress(netip.MustParseAddr(s)) {
			t.Errorf("%s counts as public", s)
		}
	}
	for _, s := range []string{"8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2a00:1450:4001:81b::200e"} {
		if !PublicAddress(netip.MustParseAddr(s)) {
			t.Errorf("%s counts as not public", s)
		}
	}
}

func TestHostAllowed(t *testing.T) {
	patterns := []string{"api.example.com", "*.hives.org", "db.example.net:8443"}
	for raw, want := range map[string]bool{
		"https://api.example.com/x":     true,
		"https://API.Example.com:444/":  true,
		"https://a.hives.org/":          true,
		"https://a.b.hives.org/":        true,
		"https://hives.org/":            false,
		"https://evilhives.org/":        false,
		"https://api.example.com.evil/": false,
		"https://db.example.net:8443/":  true,
		"https://db.example.net/":       false,
		"https://example.com/":          false,
		"https://api.example.com@evil/": false,
	} {
		u, _ := url.Parse(raw)
		if got := hostAllowed(patterns, u); got != want {
			t.Errorf("%s: allowed %v, want %v", raw, got, want)
		}
	}
}

func TestCheckAllowedHosts(t *testing.T) {
	if err := CheckAllowedHosts([]string{"api.example.com", "*.example.org", "db.example.net:8443", "10.0.0.1", "[2001:db8::1]", "[::1]:8080", "localhost"}); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"https://api.example.com", "api.example.com/v1", "api.*.com", "*", "", "a b", "example.com:"} {
		if err := CheckAllowedHosts([]string{bad}); engram.ErrorCode(err) != engram.EInvalid {
			t.Errorf("%q: %v", bad, err)
		}
	}
	u, _ := url.Parse("http://[2001:db8::1]:9000/")
	if !hostAllowed([]string{"[2001:db8::1]"}, u) || hostAllowed([]string{"[2001:db8::1]:8000"}, u) {
		t.Error("IPv6 literal patterns")
	}
}

func TestHTTPRequestAllowlist(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"method":%q,"path":%q,"body_len":%d,"x":%q}`, r.Method, r.URL.Path, r.ContentLength, r.Header.Get("X-Test"))
	}))
	defer srv.Close()
	h := (&HTTPRequest{allowAddr: allowServer(srv)}).WithSpec(engram.ToolSpec{AllowedHosts: []string{hostOf(srv)}}).(*HTTPRequest)

	if d := h.Spec().Description; !strings.Contains(d, "Allowed hosts: "+hostOf(srv)+".") {
		t.Errorf("the model is not told the allowed hosts: %s", d)
	}
	res, err := callHTTP(t, h, "", map[string]any{"method": "post", "url": srv.URL + "/hives", "body": `{"n":3}`, "headers": map[string]string{"X-Test": "yes"}})
	if err != nil {
		t.Fatal(err)
	}
	if res["status"] != 200.0 || res["content_type"] != "application/json" || res["body"] != `{"method":"POST","path":"/hives","body_len":7,"x":"yes"}` {
		t.Errorf("result %v", res)
	}

	// A host not in allowed_hosts is refused before anything is dialled.
	_, err = callHTTP(t, h, "", map[string]any{"url": "http://api.example.invalid/"})
	wantRefused(t, err, "not in this agent's allowed_hosts")
	// No allowed_hosts: nothing may be called.
	bare := (&HTTPRequest{allowAddr: allowServer(srv)}).WithSpec(engram.ToolSpec{}).(*HTTPRequest)
	_, err = callHTTP(t, bare, "", map[string]any{"url": srv.URL})
	wantRefused(t, err, "not in this agent's allowed_hosts")
	_, err = callHTTP(t, h, "", map[string]any{"url": "file:///etc/passwd"})
	wantRefused(t, err, "only http and https")

	// Bad arguments are the model's to read.
	for _, args := range []map[string]any{
		{"url": srv.URL, "method": "TRACE"},
		{"url": srv.URL, "extra": 1},
		{"url": "/relative"},
		{"url": srv.URL, "headers": map[string]string{"Host": "other"}},
	} {
		if _, err := callHTTP(t, h, "", args); engram.ErrorCode(err) != engram.EInvalid {
			t.Errorf("%v: err %v, want invalid", args, err)
		}
	}
}

func TestHTTPRequestSSRF(t *testing.T) {
	// A real server on loopback: reachable were it not for the guard.
	hit := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit = true }))
	defer srv.Close()
	_, port, _ := strings.Cut(hostOf(srv), ":")
	for _, target := range []string{
		"http://127.0.0.1:" + port + "/",
		"http://localhost:" + port + "/", // a name resolving to loopback
		"http://[::ffff:127.0.0.1]:" + port + "/",
		"http://[::1]:" + port + "/",
		"http://0.0.0.0:" + port + "/",
		"http://10.0.0.1/",
		"http://169.254.169.254/latest/meta-data/",
		"http://100.64.0.1/",
		"http://[fd00:ec2::254]/",
	} {
		u, _ := url.Parse(target)
		h := (&HTTPRequest{}).WithSpec(engram.ToolSpec{AllowedHosts: []string{u.Hostname()}}).(*HTTPRequest)
		_, err := callHTTP(t, h, "", map[string]any{"url": target})
		wantRefused(t, err, "off the public internet")
	}
	if hit {
		t.Error("a refused request reached the server")
	}
}

func TestHTTPRequestRedirects(t *testing.T) {
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the internal server was reached: %s", r.URL)
	}))
	defer internal.Close()
	var hops int
	public := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-internal":
			http.Redirect(w, r, internal.URL+"/secret", http.StatusFound)
		case "/to-metadata":
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
		case "/to-other-host":
			http.Redirect(w, r, "http://api.example.invalid/", http.StatusFound)
		case "/loop":
			hops++
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/post":
			http.Redirect(w, r, "/landed", http.StatusSeeOther)
		case "/landed":
			fmt.Fprintf(w, "landed by %s", r.Method)
		}
	}))
	defer public.Close()
	// Both servers' hosts are allowed by name (127.0.0.1): only the
	// address guard stands between the redirect and the internal one.
	h := (&HTTPRequest{allowAddr: allowServer(public)}).WithSpec(engram.ToolSpec{AllowedHosts: []string{"127.0.0.1"}}).(*HTTPRequest)

	_, err := callHTTP(t, h, "", map[string]any{"url": public.URL + "/to-internal"})
	wantRefused(t, err, "off the public internet")
	h.Def.AllowedHosts = []string{"127.0.0.1", "169.254.169.254"}
	_, err = callHTTP(t, h, "", map[string]any{"url": public.URL + "/to-metadata"})
	wantRefused(t, err, "off the public internet")
	_, err = callHTTP(t, h, "", map[string]any{"url": public.URL + "/to-other-host"})
	wantRefused(t, err, "refused a redirect to http://api.example.invalid/")
	_, err = callHTTP(t, h, "", map[string]any{"url": public.URL + "/loop"})
	if engram.ErrorCode(err) != engram.EInvalid || !strings.Contains(err.Error(), "more than 5 redirects") || hops != 6 {
		t.Errorf("redirect loop: %v after %d hops", err, hops)
	}
	res, err := callHTTP(t, h, "", map[string]any{"url": public.URL + "/post", "method": "POST", "body": "x"})
	if err != nil || res["body"] != "landed by GET" || res["url"] != public.URL+"/landed" {
		t.Errorf("303 after POST: %v %v", res, err)
	}
}

func TestHTTPRequestLimits(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Write([]byte(strings.Repeat("a", 3000)))
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}
	}))
	defer srv.Close()
	defer close(release)
	h := (&HTTPRequest{allowAddr: allowServer(srv), MaxResponseBytes: 1000, MaxRequestBytes: 100, Timeout: 200 * time.Millisecond}).
		WithSpec(engram.ToolSpec{AllowedHosts: []string{"127.0.0.1"}}).(*HTTPRequest)

	res, err := callHTTP(t, h, "", map[string]any{"url": srv.URL + "/big"})
	if err != nil {
		t.Fatal(err)
	}
	if body, _ := res["body"].(string); len(body) != 1000 || res["truncated"] != true || !strings.Contains(res["note"].(string), "cut at 1000 bytes") {
		t.Errorf("a 3000-byte answer with a 1000-byte cap: %d bytes, %v", len(body), res)
	}
	_, err = callHTTP(t, h, "", map[string]any{"url": srv.URL + "/big", "method": "POST", "body": strings.Repeat("b", 101)})
	if engram.ErrorCode(err) != engram.EInvalid || !strings.Contains(err.Error(), "over the limit of 100") {
		t.Errorf("a 101-byte body with a 100-byte cap: %v", err)
	}
	_, err = callHTTP(t, h, "", map[string]any{"url": srv.URL + "/slow"})
	if engram.ErrorCode(err) != engram.EInvalid || !strings.Contains(err.Error(), "no answer within 200ms") {
		t.Errorf("a server that does not answer: %v", err)
	}
}

// TestHTTPRequestConnector: through a connector the call reaches its
// private host (allow_private), with the credential of the user the run
// acts for, which the model never sees.
func TestHTTPRequestConnector(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "engram.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.CreateProject(ctx, &engram.Project{ID: "proj_t", Name: "t", CreatedAt: engram.Now()}))
	box, err := secrets.NewBox([]byte(strings.Repeat("k", 32)))
	must(err)
	conns := &secrets.Connectors{Store: db, Box: box}

	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "key=%q", r.Header.Get("X-Api-Key"))
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("X-Api-Key"); got != "ada-secret-key" {
			t.Errorf("the API got X-Api-Key %q", got)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/away" {
			http.Redirect(w, r, other.URL+"/", http.StatusFound)
			return
		}
		fmt.Fprintf(w, "hives of ada at %s", r.URL.Path)
	}))
	defer srv.Close()

	addConnector := func(name string, perUser, allowPrivate bool) {
		c := &engram.Connector{ID: engram.NewID("conn"), ProjectID: "proj_t", Name: name, Kind: engram.ConnectorHTTP, PerUser: perUser,
			Config: json.RawMessage(fmt.Sprintf(`{"base_url":%q,"allow_private":%v}`, srv.URL+"/v1/", allowPrivate))}
		must(db.CreateConnector(ctx, c))
		cred, err := box.Seal("proj_t", c.ID, "ada", engram.Secret{Headers: map[string]string{"X-Api-Key": "ada-secret-key"}})
		must(err)
		must(db.PutCredential(ctx, cred))
	}
	addConnector("hives", true, true)
	addConnector("guarded", false, false)

	// No allowAddr here: only the connector's allow_private lets the call
	// reach loopback.
	h := (&HTTPRequest{Connectors: conns}).WithSpec(engram.ToolSpec{Connector: "hives"}).(*HTTPRequest)
	res, err := callHTTP(t, h, "ada", map[string]any{"url": "hives/2", "headers": map[string]string{"X-Api-Key": "forged"}})
	if err != nil {
		t.Fatal(err)
	}
	if res["status"] != 200.0 || res["body"] != "hives of ada at /v1/hives/2" {
		t.Errorf("result %v", res)
	}
	if raw, _ := json.Marshal(res); strings.Contains(string(raw), "ada-secret-key") {
		t.Error("the model sees the credential")
	}
	// Per user: bob has no credential, and the shared one is never used.
	_, err = callHTTP(t, h, "bob", map[string]any{"url": "hives/2"})
	wantRefused(t, err, "connector hives needs a credential for user bob")
	_, err = callHTTP(t, h, "", map[string]any{"url": "hives/2"})
	wantRefused(t, err, "acts for no user")
	// allow_private covers the connector's host only: a redirect to
	// another loopback server is refused.
	_, err = callHTTP(t, h, "ada", map[string]any{"url": "/away"})
	wantRefused(t, err, "")

	// The credential goes to the connector's host only, even when the
	// agent may reach another.
	h2 := (&HTTPRequest{Connectors: conns, allowAddr: allowServer(other)}).
		WithSpec(engram.ToolSpec{Connector: "hives", AllowedHosts: []string{hostOf(other)}}).(*HTTPRequest)
	res, err = callHTTP(t, h2, "ada", map[string]any{"url": other.URL + "/"})
	if err != nil || res["body"] != `key=""` {
		t.Errorf("another allowed host got %v (%v)", res, err)
	}

	// Without allow_private, the connector's loopback host is refused too.
	g := (&HTTPRequest{Connectors: conns}).WithSpec(engram.ToolSpec{Connector: "guarded"}).(*HTTPRequest)
	_, err = callHTTP(t, g, "ada", map[string]any{"url": "hives"})
	wantRefused(t, err, "off the public internet")
	// An unknown connector is refused.
	u := (&HTTPRequest{Connectors: conns}).WithSpec(engram.ToolSpec{Connector: "nope"}).(*HTTPRequest)
	_, err = callHTTP(t, u, "ada", map[string]any{"url": "x"})
	wantRefused(t, err, "connector nope not found")
}

// TestGuardedTransport: other tools' clients get the same guard, with one
// private host let through when their connector allows it.
func TestGuardedTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	defer srv.Close()
	_, err := (&http.Client{Transport: GuardedTransport(time.Second, "")}).Get(srv.URL)
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("loopback through the guard: %v", err)
	}
	u, _ := url.Parse(srv.URL)
	resp, err := (&http.Client{Transport: GuardedTransport(time.Second, HostPort(u))}).Get(srv.URL)
	if err != nil {
		t.Fatalf("the allowed private host: %v", err)
	}
	resp.Body.Close()
}
