// Package bench measures the runtime's own cost per turn through the API,
// with an instant model, so that what is measured is Engram and nothing else.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config says what to measure against which server.
type Config struct {
	// BaseURLs are the servers (http://host:port, without /v1): one, or
	// replicas sharing a store. Each conversation's turns go to them in
	// turn, since any replica serves any conversation.
	BaseURLs []string
	APIKey   string
	// Store names the store in the report, e.g. "SQLite" or "PostgreSQL".
	Store string
	// Model answers instantly; the default is the scripted echo model.
	Model string
	// Turns is how long the grown conversations get (default 1,000).
	Turns int
	// Growers is how many conversations are grown to Turns, one at a time
	// (default 4); their turns near 10 and near Turns are the samples.
	Growers int
	// Concurrency is how many conversations run at once in the throughput
	// phase (default 64), for Duration (default 3s).
	Concurrency int
	Duration    time.Duration
	// MessageBytes is the size of each user message (default 400 bytes:
	// a paragraph).
	MessageBytes int
	// DiskBytes reports the store's size on disk; nil skips that figure.
	DiskBytes func() (int64, error)
}

// Result holds the figures.
type Result struct {
	P50At10, P99At10     time.Duration
	P50AtN, P99AtN       time.Duration
	Turns                int
	TurnsPerSecond       float64
	P50Loaded, P99Loaded time.Duration // per turn in the throughput phase
	Concurrency          int
	Replicas             int
	Store                string
	DiskBytesPerTurn     float64
	RawTextBytesPerTurn  float64
	ResidentBytes        int64
	ThroughputTurnsTotal int64
}

// Run measures. Progress goes to log.
func Run(ctx context.Context, cfg Config, log io.Writer) (*Result, error) {
	setDefaults(&cfg)
	c := &client{cfg: cfg, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency * 2}}}
	res := &Result{Turns: cfg.Turns, Concurrency: cfg.Concurrency, Replicas: len(cfg.BaseURLs), Store: cfg.Store}

	// Phase 1: grow conversations, sampling turns around 10 and around N.
	var early, late []time.Duration
	var rawText int64
	diskBefore := diskSize(cfg)
	for g := 0; g < cfg.Growers; g++ {
		conv, err := c.newConversation(ctx)
		if err != nil {
			return nil, err
		}
		for turn := 1; turn <= cfg.Turns+10; turn++ {
			msg := message(cfg.MessageBytes, g, turn)
			took, answer, err := c.turn(ctx, c.server(g+turn), conv, msg)
			if err != nil {
				return nil, fmt.Errorf("conversation %d turn %d: %w", g, turn, err)
			}
			rawText += int64(len(msg) + len(answer))
			switch {
			case turn <= 20:
				early = append(early, took)
			case turn > cfg.Turns-10:
				late = append(late, took)
			}
		}
		fmt.Fprintf(log, "grown conversation %d/%d to %d turns\n", g+1, cfg.Growers, cfg.Turns+10)
	}
	res.P50At10, res.P99At10 = percentile(early, 50), percentile(early, 99)
	res.P50AtN, res.P99AtN = percentile(late, 50), percentile(late, 99)
	grownTurns := cfg.Growers * (cfg.Turns + 10)
	if cfg.DiskBytes != nil {
		res.DiskBytesPerTurn = float64(diskSize(cfg)-diskBefore) / float64(grownTurns)
	}
	res.RawTextBytesPerTurn = float64(rawText) / float64(grownTurns)

	// Phase 2: many conversations at once.
	var total atomic.Int64
	var loadedMu sync.Mutex
	var loaded []time.Duration
	var firstErr error
	var errOnce sync.Once
	deadline := time.Now().Add(cfg.Duration)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < cfg.Concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			conv, err := c.newConversation(ctx)
			var took []time.Duration
			for turn := 1; err == nil && time.Now().Before(deadline); turn++ {
				var d time.Duration
				d, _, err = c.turn(ctx, c.server(w+turn), conv, message(cfg.MessageBytes, w, turn))
				if err == nil {
					total.Add(1)
					took = append(took, d)
				}
			}
			loadedMu.Lock()
			loaded = append(loaded, took...)
			loadedMu.Unlock()
			if err != nil {
				errOnce.Do(func() { firstErr = err })
			}
		}(w)
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	res.ThroughputTurnsTotal = total.Load()
	res.TurnsPerSecond = float64(total.Load()) / time.Since(start).Seconds()
	res.P50Loaded, res.P99Loaded = percentile(loaded, 50), percentile(loaded, 99)
	res.ResidentBytes = residentBytes()
	return res, nil
}

func setDefaults(cfg *Config) {
	if cfg.Model == "" {
		cfg.Model = "scripted/echo"
	}
	if cfg.Turns <= 0 {
		cfg.Turns = 1000
	}
	if cfg.Growers <= 0 {
		cfg.Growers = 4
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 64
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 3 * time.Second
	}
	if cfg.MessageBytes <= 0 {
		cfg.MessageBytes = 400
	}
	if cfg.Store == "" {
		cfg.Store = "SQLite"
	}
}

func diskSize(cfg Config) int64 {
	if cfg.DiskBytes == nil {
		return 0
	}
	n, _ := cfg.DiskBytes()
	return n
}

// Print writes the figures beside their targets.
func (r *Result) Print(w io.Writer) {
	ok := func(pass bool) string {
		if pass {
			return "ok"
		}
		return "MISSED"
	}
	ratio := float64(r.P50AtN) / float64(max(r.P50At10, 1))
	replicas := ""
	if r.Replicas > 1 {
		replicas = fmt.Sprintf(", %d replicas", r.Replicas)
	}
	fmt.Fprintf(w, "Engram runtime cost per turn (instant scripted model, over loopback HTTP, %s%s)\n\n", r.Store, replicas)
	fmt.Fprintf(w, "  %-38s %12s %12s   %s\n", "figure", "value", "target", "")
	fmt.Fprintf(w, "  %-38s %12s %12s   %s\n", "p50 per turn at turn 10", ms(r.P50At10), "<= 1 ms", ok(r.P50At10 <= time.Millisecond))
	fmt.Fprintf(w, "  %-38s %12s %12s\n", "p99 per turn at turn 10", ms(r.P99At10), "")
	fmt.Fprintf(w, "  %-38s %12s %12s   %s\n", fmt.Sprintf("p50 per turn at turn %d", r.Turns), ms(r.P50AtN), "<= 1 ms", ok(r.P50AtN <= time.Millisecond))
	fmt.Fprintf(w, "  %-38s %12s %12s\n", fmt.Sprintf("p99 per turn at turn %d", r.Turns), ms(r.P99AtN), "")
	fmt.Fprintf(w, "  %-38s %11.2fx %12s   %s\n", fmt.Sprintf("turn %d p50 / turn 10 p50", r.Turns), ratio, "<= 1.2x", ok(ratio <= 1.2))
	fmt.Fprintf(w, "  %-38s %12.0f %12s   %s\n", fmt.Sprintf("turns/s, %d conversations at once", r.Concurrency), r.TurnsPerSecond, ">= 3000", ok(r.TurnsPerSecond >= 3000))
	fmt.Fprintf(w, "  %-38s %12s %12s\n", "p50 per turn at that load", ms(r.P50Loaded), "")
	fmt.Fprintf(w, "  %-38s %12s %12s\n", "p99 per turn at that load", ms(r.P99Loaded), "")
	if r.DiskBytesPerTurn > 0 {
		x := r.DiskBytesPerTurn / r.RawTextBytesPerTurn
		fmt.Fprintf(w, "  %-38s %12.0f %12s\n", "bytes on disk per turn", r.DiskBytesPerTurn, "")
		fmt.Fprintf(w, "  %-38s %12.0f %12s\n", "raw text bytes per turn", r.RawTextBytesPerTurn, "")
		fmt.Fprintf(w, "  %-38s %11.2fx %12s   %s\n", "disk / raw text", x, "<= 3x", ok(x <= 3))
	}
	if r.ResidentBytes > 0 {
		fmt.Fprintf(w, "  %-38s %9.1f MiB %12s\n", "resident memory (server and bench)", float64(r.ResidentBytes)/(1<<20), "")
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond)) }

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)]
}

// message makes a distinct paragraph of about n bytes.
func message(n, conv, turn int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Conversation %d, turn %d: ", conv, turn)
	words := []string{"the", "colony", "was", "calm", "after", "we", "added", "a", "super", "and", "checked", "brood", "frames", "for", "eggs", "queen", "cells"}
	for i := 0; b.Len() < n; i++ {
		b.WriteString(words[(i*7+turn+conv)%len(words)])
		b.WriteByte(' ')
	}
	return b.String()
}

func residentBytes() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
			return kb * 1024
		}
	}
	return 0
}

type client struct {
	cfg  Config
	http *http.Client
}

// server picks the replica for the nth request of a conversation.
func (c *client) server(n int) string { return c.cfg.BaseURLs[n%len(c.cfg.BaseURLs)] }

func (c *client) post(ctx context.Context, base, path string, body any, out any) error {
	data, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, "POST", base+path, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, raw)
	}
	return json.Unmarshal(raw, out)
}

func (c *client) newConversation(ctx context.Context) (string, error) {
	var conv struct {
		ID string `json:"id"`
	}
	err := c.post(ctx, c.server(0), "/v1/conversations", map[string]any{"metadata": map[string]string{"bench": "true"}}, &conv)
	return conv.ID, err
}

// turn runs one response and returns how long it took and the answer.
func (c *client) turn(ctx context.Context, base, conv, msg string) (time.Duration, string, error) {
	var r struct {
		Status string `json:"status"`
		Output []struct {
			Content []struct {
				Text string `json:"text"`
			} `json:"content"`
		} `json:"output"`
	}
	start := time.Now()
	// truncation auto: a conversation this long outgrows the scripted
	// model's window, and a client keeping it going opts in to dropping
	// the oldest turns (OpenAI's default, disabled, would refuse it).
	err := c.post(ctx, base, "/v1/responses", map[string]any{"model": c.cfg.Model, "input": msg, "conversation": conv, "truncation": "auto"}, &r)
	took := time.Since(start)
	if err != nil {
		return 0, "", err
	}
	if r.Status != "completed" || len(r.Output) == 0 || len(r.Output[0].Content) == 0 {
		return 0, "", fmt.Errorf("response not completed: %+v", r)
	}
	return took, r.Output[0].Content[0].Text, nil
}
