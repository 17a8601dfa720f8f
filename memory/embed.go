package memory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/engram-run/engram"
)

// maxEmbeddingAnswer bounds an embedding server's answer: a batch of a few
// hundred texts of 3,072 floats in JSON is well under it, and a broken
// server cannot make us read forever.
const maxEmbeddingAnswer = 64 << 20

var defaultEmbeddingClient = &http.Client{Timeout: 30 * time.Second}

// OpenAIEmbeddings is an embedding model behind an OpenAI-compatible
// POST {BaseURL}/embeddings: OpenAI itself, vLLM, llama.cpp, LM Studio,
// LiteLLM and the like.
type OpenAIEmbeddings struct {
	BaseURL string // up to and including /v1, e.g. https://api.openai.com/v1
	Key     string // sent as a Bearer token when set
	Name    string // the model, e.g. text-embedding-3-small
	Client  *http.Client
}

// Model implements engram.Embedder.
func (e *OpenAIEmbeddings) Model() string { return e.Name }

// Embed implements engram.Embedder. Vectors come back L2-normalised, in the
// order of texts.
func (e *OpenAIEmbeddings) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return nil, nil
	}
	body, _ := json.Marshal(map[string]any{"model": e.Name, "input": texts, "encoding_format": "float"})
	var answer struct {
		Data []struct {
			Index     *int      `json:"index"`
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
	}
	if err := postJSON(ctx, e.Client, strings.TrimRight(e.BaseURL, "/")+"/embeddings", e.Key, body, &answer); err != nil {
		return nil, err
	}
	if len(answer.Data) != len(texts) {
		return nil, garbage("%d embeddings for %d texts", len(answer.Data), len(texts))
	}
	// OpenAI documents data as ordered by index but says to read index;
	// some compatible servers answer batches out of order.
	vecs := make([][]float32, len(texts))
	for _, d := range answer.Data {
		if d.Index == nil || *d.Index < 0 || *d.Index >= len(texts) || vecs[*d.Index] != nil {
			return nil, garbage("embedding indexes are missing, out of range or repeated")
		}
		vecs[*d.Index] = d.Embedding
	}
	return normaliseAll(vecs)
}

// OllamaEmbeddings is an embedding model served by Ollama's
// POST {Host}/api/embed.
type OllamaEmbeddings struct {
	Host   string // e.g. http://localhost:11434
	Name   string // the model, e.g. nomic-embed-text
	Client *http.Client
}

// Model implements engram.Embedder.
func (e *OllamaEmbeddings) Model() string { return e.Name }

// Embed implements engram.Embedder. Vectors come back L2-normalised, in the
// order of texts.
func (e *OllamaEmbeddings) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return nil, nil
	}
	body, _ := json.Marshal(map[string]any{"model": e.Name, "input": texts})
	var answer struct {
		Embeddings [][]float32 `json:"embeddings"`
	}
	if err := postJSON(ctx, e.Client, strings.TrimRight(e.Host, "/")+"/api/embed", "", body, &answer); err != nil {
		return nil, err
	}
	if len(answer.Embeddings) != len(texts) {
		return nil, garbage("%d embeddings for %d texts", len(answer.Embeddings), len(texts))
	}
	return normaliseAll(answer.Embeddings)
}

// postJSON sends body and decodes a 2xx answer into out. A failure is an
// *engram.Error: EUpstreamTimeout when the server did not answer in time,
// else EUpstream carrying what the server said, so an operator reading
// the log sees "model not found" rather than "502".
func postJSON(ctx context.Context, client *http.Client, endpoint, key string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return engram.Errorf(engram.EUpstream, "embeddings: bad endpoint %q: %v", endpoint, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if client == nil {
		client = defaultEmbeddingClient
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return err // the caller went away; nothing failed upstream
		}
		var netErr net.Error
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
			return engram.Errorf(engram.EUpstreamTimeout, "embeddings: %s did not answer in time", redactURL(endpoint))
		}
		return engram.Errorf(engram.EUpstream, "embeddings: %s: %v", redactURL(endpoint), errors.Unwrap(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxEmbeddingAnswer+1))
	if err != nil {
		return engram.Errorf(engram.EUpstream, "embeddings: reading the answer: %v", err)
	}
	if len(data) > maxEmbeddingAnswer {
		return engram.Errorf(engram.EUpstream, "embeddings: the answer is over %d bytes", maxEmbeddingAnswer)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return engram.Errorf(engram.EUpstream, "embeddings: %s answered %s: %s", redactURL(endpoint), resp.Status, upstreamMessage(data))
	}
	if err := json.Unmarshal(data, out); err != nil {
		return garbage("%v", err)
	}
	return nil
}

// upstreamMessage reads the error message of OpenAI's {"error":{"message"}}
// or Ollama's {"error":"..."}, else a short piece of the raw body.
func upstreamMessage(data []byte) string {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(data, &e) == nil && len(e.Error) > 0 {
		var obj struct {
			Message string `json:"message"`
		}
		var s string
		if json.Unmarshal(e.Error, &obj) == nil && obj.Message != "" {
			return obj.Message
		}
		if json.Unmarshal(e.Error, &s) == nil && s != "" {
			return s
		}
	}
	if len(data) > 200 {
		return string(data[:200]) + "…"
	}
	return string(data)
}

// redactURL keeps credentials someone put in a URL out of error messages.
func redactURL(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "the embedding server"
	}
	u.User = nil
	u.RawQuery = ""
	return u.String()
}

func garbage(format string, args ...any) error {
	return engram.Errorf(engram.EUpstream, "embeddings: the server's answer is unusable: "+format, args...)
}

// normaliseAll checks that vecs are one usable size and scales each to unit
// length, so that a store's cosine similarity is a plain dot product and
// vectors from servers that normalise and servers that do not compare alike.
func normaliseAll(vecs [][]float32) ([][]float32, error) {
	for i, v := range vecs {
		if len(v) == 0 || len(v) != len(vecs[0]) {
			return nil, garbage("embedding %d has %d dimensions, embedding 0 has %d", i, len(v), len(vecs[0]))
		}
		if !normalise(v) {
			return nil, garbage("embedding %d is zero or not finite", i)
		}
	}
	return vecs, nil
}

// normalise scales v to unit length in place; false when it has none.
func normalise(v []float32) bool {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	norm := math.Sqrt(sum)
	if norm == 0 || math.IsInf(norm, 0) || math.IsNaN(norm) {
		return false
	}
	for i := range v {
		v[i] = float32(float64(v[i]) / norm)
	}
	return true
}

// EmbedderFromEnv returns the embedding model the environment configures,
// or nil when none is (search then ranks by text and recency only).
//
//	ENGRAM_EMBEDDINGS_MODEL   "openai/<model>" or "ollama/<model>"; unset: no embeddings
//	ENGRAM_EMBEDDINGS_URL     the server: an OpenAI-compatible base URL
//	                          (default OPENAI_BASE_URL, else https://api.openai.com/v1)
//	                          or Ollama's host (default OLLAMA_HOST, else http://localhost:11434)
//	ENGRAM_EMBEDDINGS_KEY     the Bearer key for openai/ (default OPENAI_API_KEY)
func EmbedderFromEnv(getenv func(string) string) (engram.Embedder, error) {
	spec := strings.TrimSpace(getenv("ENGRAM_EMBEDDINGS_MODEL"))
	if spec == "" {
		return nil, nil
	}
	provider, model, ok := strings.Cut(spec, "/")
	if !ok || model == "" {
		return nil, fmt.Errorf("ENGRAM_EMBEDDINGS_MODEL=%q: want openai/<model> or ollama/<model>", spec)
	}
	server := strings.TrimSpace(getenv("ENGRAM_EMBEDDINGS_URL"))
	switch provider {
	case "openai":
		if server == "" {
			server = firstNonEmpty(getenv("OPENAI_BASE_URL"), "https://api.openai.com/v1")
		}
		return &OpenAIEmbeddings{BaseURL: server, Key: firstNonEmpty(getenv("ENGRAM_EMBEDDINGS_KEY"), getenv("OPENAI_API_KEY")), Name: model}, nil
	case "ollama":
		if server == "" {
			server = getenv("OLLAMA_HOST")
		}
		return &OllamaEmbeddings{Host: OllamaURL(server), Name: model}, nil
	}
	return nil, fmt.Errorf("ENGRAM_EMBEDDINGS_MODEL=%q: unknown provider %q, want openai or ollama", spec, provider)
}

// OllamaURL reads a host the way Ollama's own client reads OLLAMA_HOST:
// scheme http and port 11434 unless given, so "gpu-box" and "0.0.0.0:11434"
// both work.
func OllamaURL(host string) string {
	host = strings.TrimSpace(host)
	if host == "" {
		return "http://localhost:11434"
	}
	scheme := "http"
	if s, rest, ok := strings.Cut(host, "://"); ok {
		scheme, host = s, rest
	}
	host, path, _ := strings.Cut(host, "/")
	if _, _, err := net.SplitHostPort(host); err != nil {
		port := "11434"
		if scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(strings.Trim(host, "[]"), port)
	}
	u := scheme + "://" + host
	if path = strings.Trim(path, "/"); path != "" {
		u += "/" + path
	}
	return u
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}
