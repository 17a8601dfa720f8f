package memory

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/engram-run/engram"
)

// fakeEmbeddingServer answers one path with status and body, recording the
// request it got.
type fakeEmbeddingServer struct {
	path, status, body string
	delay              time.Duration
	gotAuth            string
	gotBody            map[string]any
}

func (f *fakeEmbeddingServer) start(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != f.path || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, `{"error":"wrong request"}`, http.StatusTeapot)
			return
		}
		f.gotAuth = r.Header.Get("Authorization")
		data, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(data, &f.gotBody)
		if f.delay > 0 {
			select {
			case <-time.After(f.delay):
			case <-r.Context().Done():
			}
		}
		status := 200
		if f.status != "" {
			status = map[string]int{"400": 400, "401": 401, "404": 404, "429": 429, "500": 500}[f.status]
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, f.body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestOpenAIEmbeddings(t *testing.T) {
	// Out of order, as some compatible servers batch them; unnormalised.
	fake := &fakeEmbeddingServer{path: "/v1/embeddings", body: `{"object":"list","data":[
		{"object":"embedding","index":1,"embedding":[0,3,4]},
		{"object":"embedding","index":0,"embedding":[2,0,0]}],
		"model":"text-embedding-3-small","usage":{"prompt_tokens":4,"total_tokens":4}}`}
	base := fake.start(t)
	e := &OpenAIEmbeddings{BaseURL: base + "/v1/", Key: "sk-test", Name: "text-embedding-3-small"}
	vecs, err := e.Embed(context.Background(), []string{"bees", "honey"})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]float32{{1, 0, 0}, {0, 0.6, 0.8}}
	if !vectorsNear(vecs, want) {
		t.Errorf("vectors %v, want %v", vecs, want)
	}
	if fake.gotAuth != "Bearer sk-test" {
		t.Errorf("Authorization %q", fake.gotAuth)
	}
	if fake.gotBody["model"] != "text-embedding-3-small" || fake.gotBody["encoding_format"] != "float" {
		t.Errorf("request %v", fake.gotBody)
	}
	if in, _ := fake.gotBody["input"].([]any); len(in) != 2 || in[0] != "bees" || in[1] != "honey" {
		t.Errorf("input %v", fake.gotBody["input"])
	}
	if e.Model() != "text-embedding-3-small" {
		t.Errorf("Model() = %q", e.Model())
	}
}

func TestOllamaEmbeddings(t *testing.T) {
	fake := &fakeEmbeddingServer{path: "/api/embed", body: `{"model":"nomic-embed-text","embeddings":[[3,4],[0,-5]],
		"total_duration":14143917,"load_duration":1019500,"prompt_eval_count":8}`}
	host := fake.start(t)
	e := &OllamaEmbeddings{Host: host, Name: "nomic-embed-text"}
	vecs, err := e.Embed(context.Background(), []string{"bees", "honey"})
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]float32{{0.6, 0.8}, {0, -1}}; !vectorsNear(vecs, want) {
		t.Errorf("vectors %v, want %v", vecs, want)
	}
	if fake.gotAuth != "" || fake.gotBody["model"] != "nomic-embed-text" {
		t.Errorf("request auth %q body %v", fake.gotAuth, fake.gotBody)
	}
}

func TestEmbeddingFailures(t *testing.T) {
	openaiOK := `{"data":[{"index":0,"embedding":[1,0]}]}`
	tests := []struct {
		name     string
		ollama   bool
		status   string
		body     string
		delay    time.Duration
		wantCode string
		wantMsg  string
	}{
		{"openai 401", false, "401", `{"error":{"message":"Incorrect API key provided: sk-xx.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`, 0, engram.EUpstream, "Incorrect API key provided"},
		{"openai 429", false, "429", `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`, 0, engram.EUpstream, "Rate limit reached"},
		{"openai 500 plain text", false, "500", `upstream exploded`, 0, engram.EUpstream, "upstream exploded"},
		{"openai not json", false, "", `<html>hello</html>`, 0, engram.EUpstream, "unusable"},
		{"openai too few", false, "", `{"data":[]}`, 0, engram.EUpstream, "0 embeddings for 1 texts"},
		{"openai no index", false, "", `{"data":[{"embedding":[1,0]}]}`, 0, engram.EUpstream, "indexes"},
		{"openai index out of range", false, "", `{"data":[{"index":3,"embedding":[1,0]}]}`, 0, engram.EUpstream, "indexes"},
		{"openai empty vector", false, "", `{"data":[{"index":0,"embedding":[]}]}`, 0, engram.EUpstream, "dimensions"},
		{"openai zero vector", false, "", `{"data":[{"index":0,"embedding":[0,0]}]}`, 0, engram.EUpstream, "zero"},
		{"openai base64 answer", false, "", `{"data":[{"index":0,"embedding":"AACAPw=="}]}`, 0, engram.EUpstream, "unusable"},
		{"openai slow", false, "", openaiOK, 2 * time.Second, engram.EUpstreamTimeout, "in time"},
		{"ollama model missing", true, "404", `{"error":"model \"nomic-embed-text\" not found, try pulling it first"}`, 0, engram.EUpstream, "try pulling it first"},
		{"ollama wrong count", true, "", `{"embeddings":[[1,0],[0,1]]}`, 0, engram.EUpstream, "2 embeddings for 1 texts"},
		{"ollama null", true, "", `null`, 0, engram.EUpstream, "0 embeddings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeEmbeddingServer{path: "/api/embed", status: tt.status, body: tt.body, delay: tt.delay}
			var e engram.Embedder
			client := &http.Client{Timeout: 200 * time.Millisecond}
			if tt.ollama {
				e = &OllamaEmbeddings{Host: fake.start(t), Name: "nomic-embed-text", Client: client}
			} else {
				fake.path = "/v1/embeddings"
				e = &OpenAIEmbeddings{BaseURL: fake.start(t) + "/v1", Name: "m", Client: client}
			}
			_, err := e.Embed(context.Background(), []string{"bees"})
			if engram.ErrorCode(err) != tt.wantCode || !strings.Contains(engram.ErrorMessage(err), tt.wantMsg) {
				t.Errorf("err = %v, want %s with %q", err, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestEmbeddingRaggedDimensions(t *testing.T) {
	fake := &fakeEmbeddingServer{path: "/api/embed", body: `{"embeddings":[[1,0],[1,0,0]]}`}
	e := &OllamaEmbeddings{Host: fake.start(t), Name: "m"}
	if _, err := e.Embed(context.Background(), []string{"a", "b"}); engram.ErrorCode(err) != engram.EUpstream {
		t.Errorf("err = %v, want upstream error", err)
	}
}

func TestEmbeddingServerDown(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := (&OllamaEmbeddings{Host: url, Name: "m"}).Embed(context.Background(), []string{"a"})
	if engram.ErrorCode(err) != engram.EUpstream {
		t.Errorf("err = %v, want upstream error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (&OllamaEmbeddings{Host: url, Name: "m"}).Embed(ctx, []string{"a"}); engram.ErrorCode(err) != engram.EInternal {
		t.Errorf("cancelled: err = %v, want the context's error", err)
	}
}

func TestEmbedderFromEnv(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string // %T and fields, or "nil", or "error"
	}{
		{map[string]string{}, "nil"},
		{map[string]string{"OPENAI_API_KEY": "sk-x"}, "nil"},
		{map[string]string{"ENGRAM_EMBEDDINGS_MODEL": "openai/text-embedding-3-small", "OPENAI_API_KEY": "sk-x"},
			"openai https://api.openai.com/v1 sk-x text-embedding-3-small"},
		{map[string]string{"ENGRAM_EMBEDDINGS_MODEL": "openai/bge-m3", "OPENAI_BASE_URL": "http://vllm:8000/v1", "OPENAI_API_KEY": "sk-x", "ENGRAM_EMBEDDINGS_KEY": "sk-e"},
			"openai http://vllm:8000/v1 sk-e bge-m3"},
		{map[string]string{"ENGRAM_EMBEDDINGS_MODEL": "openai/BAAI/bge-m3", "ENGRAM_EMBEDDINGS_URL": "http://emb:9000/v1", "OPENAI_BASE_URL": "http://vllm:8000/v1"},
			"openai http://emb:9000/v1  BAAI/bge-m3"},
		{map[string]string{"ENGRAM_EMBEDDINGS_MODEL": "ollama/nomic-embed-text"}, "ollama http://localhost:11434 nomic-embed-text"},
		{map[string]string{"ENGRAM_EMBEDDINGS_MODEL": "ollama/nomic-embed-text", "OLLAMA_HOST": "gpu-box"}, "ollama http://gpu-box:11434 nomic-embed-text"},
		{map[string]string{"ENGRAM_EMBEDDINGS_MODEL": "ollama/nomic-embed-text", "OLLAMA_HOST": "gpu-box", "ENGRAM_EMBEDDINGS_URL": "https://emb.example"}, "ollama https://emb.example:443 nomic-embed-text"},
		{map[string]string{"ENGRAM_EMBEDDINGS_MODEL": "text-embedding-3-small"}, "error"},
		{map[string]string{"ENGRAM_EMBEDDINGS_MODEL": "cohere/embed-v4"}, "error"},
		{map[string]string{"ENGRAM_EMBEDDINGS_MODEL": "openai/"}, "error"},
	}
	for _, tt := range tests {
		e, err := EmbedderFromEnv(func(k string) string { return tt.env[k] })
		var got string
		switch e := e.(type) {
		case nil:
			got = "nil"
			if err != nil {
				got = "error"
			}
		case *OpenAIEmbeddings:
			got = strings.Join([]string{"openai", e.BaseURL, e.Key, e.Name}, " ")
		case *OllamaEmbeddings:
			got = strings.Join([]string{"ollama", e.Host, e.Name}, " ")
		}
		if got != tt.want {
			t.Errorf("EmbedderFromEnv(%v) = %q (err %v), want %q", tt.env, got, err, tt.want)
		}
	}
}

func TestOllamaURL(t *testing.T) {
	for in, want := range map[string]string{
		"":                        "http://localhost:11434",
		"gpu-box":                 "http://gpu-box:11434",
		"0.0.0.0:11434":           "http://0.0.0.0:11434",
		"http://10.0.0.5:8080":    "http://10.0.0.5:8080",
		"https://ollama.example/": "https://ollama.example:443",
		"http://proxy/ollama/":    "http://proxy:11434/ollama",
		"[::1]":                   "http://[::1]:11434",
	} {
		if got := OllamaURL(in); got != want {
			t.Errorf("OllamaURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func vectorsNear(got, want [][]float32) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if len(got[i]) != len(want[i]) {
			return false
		}
		for j := range got[i] {
			if math.Abs(float64(got[i][j]-want[i][j])) > 1e-6 {
				return false
			}
		}
	}
	return true
}

type answerWith string

func (a answerWith) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(string(a)))}, nil
}

// FuzzEmbeddingAnswers: whatever an embedding server answers, the
// embedders return an error or vectors of unit length, one per text.
func FuzzEmbeddingAnswers(f *testing.F) {
	f.Add(`{"data":[{"index":1,"embedding":[0,3,4]},{"index":0,"embedding":[2,0,0]}]}`)
	f.Add(`{"embeddings":[[3,4],[0,-5]]}`)
	f.Add(`{"data":[{"index":0,"embedding":[1e39,0]},{"index":1,"embedding":[1,0]}],"embeddings":[[1e-45],[1e-45]]}`)
	f.Fuzz(func(t *testing.T, answer string) {
		client := &http.Client{Transport: answerWith(answer)}
		for _, e := range []engram.Embedder{
			&OpenAIEmbeddings{BaseURL: "http://embed.invalid/v1", Name: "m", Client: client},
			&OllamaEmbeddings{Host: "http://embed.invalid", Name: "m", Client: client},
		} {
			vecs, err := e.Embed(context.Background(), []string{"a", "b"})
			if err != nil {
				if engram.ErrorCode(err) != engram.EUpstream {
					t.Fatalf("%T: %v", e, err)
				}
				continue
			}
			if len(vecs) != 2 {
				t.Fatalf("%T: %d vectors", e, len(vecs))
			}
			for _, v := range vecs {
				var sum float64
				for _, x := range v {
					sum += float64(x) * float64(x)
				}
				if math.Abs(sum-1) > 1e-3 {
					t.Fatalf("%T: squared norm %f of %v", e, sum, v)
				}
			}
		}
	})
}
