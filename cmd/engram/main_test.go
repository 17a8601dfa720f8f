package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// testServer is an `engram serve` running in-process.
type testServer struct {
	URL      string // http://127.0.0.1:PORT, without /v1
	AdminKey string
	DataDir  string
	Stop     func() // stops it early, e.g. to restart on the same DataDir
	Logs     func() string
}

// lockedBuffer collects a server's output for the test log.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startEngram runs `engram serve` through run() on a free loopback port with
// a fresh data directory (or env's ENGRAM_DATA) and returns once /readyz
// answers 200. It stops at test cleanup.
func startEngram(t *testing.T, env map[string]string) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	vars := map[string]string{
		"ENGRAM_ADDR":      addr,
		"ENGRAM_DATA":      t.TempDir(),
		"ENGRAM_ADMIN_KEY": "sk-engram-test-admin-key-0001",
		"ENGRAM_LOG_LEVEL": "warn",
	}
	for k, v := range env {
		vars[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, func(k string) string { return vars[k] }, strings.NewReader(""), out, out)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("engram serve: %v\n%s", err, out.String())
				}
			case <-time.After(15 * time.Second):
				t.Errorf("engram serve did not stop within 15s")
			}
		})
	}
	t.Cleanup(stop)

	srv := &testServer{URL: "http://" + addr, AdminKey: vars["ENGRAM_ADMIN_KEY"], DataDir: vars["ENGRAM_DATA"], Stop: stop, Logs: out.String}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-done:
			t.Fatalf("engram serve exited early: %v\n%s", err, out.String())
		default:
		}
		resp, err := http.Get(srv.URL + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return srv
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("engram serve not ready after 20s: %v\n%s", err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// call makes an API request with the server's admin key and decodes the
// JSON answer into out (when not nil), returning the status.
func (s *testServer) call(t *testing.T, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.AdminKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := jsonUnmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

func jsonUnmarshal(data []byte, out any) error {
	if err := jsonDecode(data, out); err != nil {
		return fmt.Errorf("decode %s: %w", data, err)
	}
	return nil
}
