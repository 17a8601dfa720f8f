package memory_test

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/memory"
	"github.com/engram-run/engram/sqlite"
	"github.com/engram-run/engram/tool"
)

func openStore(t *testing.T) *sqlite.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "engram.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.CreateProject(ctx, &engram.Project{ID: "proj_1", Name: "mine", CreatedAt: engram.Now()}); err != nil {
		t.Fatal(err)
	}
	return db
}

// fakeOllama speaks Ollama's /api/embed, embedding each text as its words
// hashed into 32 dimensions (unnormalised, as some servers answer), so texts
// sharing words are near.
func fakeOllama(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model string   `json:"model"`
			Input []string `json:"input"`
		}
		if r.URL.Path != "/api/embed" || json.NewDecoder(r.Body).Decode(&req) != nil || req.Model != "bow" {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":"model not found"}`))
			return
		}
		out := make([][]float32, len(req.Input))
		for i, text := range req.Input {
			v := make([]float32, 32)
			for _, word := range strings.Fields(strings.ToLower(text)) {
				h := fnv.New32a()
				h.Write([]byte(strings.Trim(word, ".,?!'")))
				v[h.Sum32()%32] += 3
			}
			v[31] += 0.1
			out[i] = v
		}
		json.NewEncoder(w).Encode(map[string]any{"model": req.Model, "embeddings": out})
	}))
	t.Cleanup(srv.Close)
	return srv
}

var ada = engram.MemoryScope{ProjectID: "proj_1", AgentID: "agent_1", User: "ada"}

func write(t *testing.T, svc *memory.Service, scope engram.MemoryScope, text string) *engram.MemoryRecord {
	t.Helper()
	r := &engram.MemoryRecord{ProjectID: scope.ProjectID, AgentID: scope.AgentID, User: scope.User, Text: text}
	if err := svc.WriteRecord(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestHybridOverSQLite: records are embedded through a real Ollama wire
// exchange and stored with their vectors; hybrid search finds by vector
// what text alone misses; with the embedding server gone, writes and
// searches go on by text.
func TestHybridOverSQLite(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	ollama := fakeOllama(t)
	svc := &memory.Service{Store: db, Embedder: &memory.OllamaEmbeddings{Host: ollama.URL, Name: "bow"}, Logger: slog.New(slog.DiscardHandler)}
	near := write(t, svc, ada, "where the bees are")
	write(t, svc, ada, "Ada sells honey at the market.")
	stored, err := db.GetRecord(ctx, "proj_1", near.ID)
	if err != nil || stored.EmbeddingModel != "bow" || len(stored.Embedding) != 32 {
		t.Fatalf("stored %+v, %v", stored, err)
	}

	q := engram.MemoryQuery{Scope: ada, Text: "honey where are"} // one term, "honey"; the vector shares "where" and "are"
	hits, err := svc.SearchRecords(ctx, q)
	if err != nil || len(hits) != 2 || hits[0].Record.Text != "Ada sells honey at the market." {
		t.Errorf("hybrid: %v %v", hits, err)
	}
	q.Mode = memory.ModeBM25
	if hits, err := svc.SearchRecords(ctx, q); err != nil || len(hits) != 1 {
		t.Errorf("bm25: %v %v", hits, err)
	}

	ollama.Close()
	offline := write(t, svc, ada, "Hive 2 is queenless.")
	if offline.Embedding != nil {
		t.Errorf("a vector from a closed server")
	}
	hits, err = svc.SearchRecords(ctx, engram.MemoryQuery{Scope: ada, Text: "queenless hive"})
	if err != nil || len(hits) != 1 || hits[0].Record.ID != offline.ID {
		t.Errorf("search with the embedder down: %v %v", hits, err)
	}
}

// TestToolsOverSQLite: the memory tools on the real store reach only the
// call's own scope, whatever the model asks.
func TestToolsOverSQLite(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	svc := &memory.Service{Store: db}
	tools := map[string]engram.Tool{}
	for _, tl := range tool.Memory(svc) {
		tools[tl.Spec().Name] = tl
	}
	bob := ada
	bob.User = "bob"
	other := ada
	other.AgentID = "agent_2"
	for _, c := range []struct {
		id    string
		scope engram.MemoryScope
		text  string
	}{
		{"conv_old", ada, "Hive 2 swarmed into the lemon tree."},
		{"conv_now", ada, "The swarm is back in hive 2."},
		{"conv_bob", bob, "Bob's swarm went to the lemon tree too."},
		{"conv_other", other, "Another agent heard about the lemon tree swarm."},
	} {
		conv := &engram.Conversation{ID: c.id, ProjectID: "proj_1", AgentID: c.scope.AgentID, User: c.scope.User, Metadata: map[string]string{}}
		msg := &engram.Item{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: c.text}}}
		if err := db.CreateConversation(ctx, conv, []*engram.Item{msg}); err != nil {
			t.Fatal(err)
		}
	}
	call := func(scope engram.MemoryScope, name, args string) (string, error) {
		return tools[name].Call(ctx, engram.ToolCall{ProjectID: scope.ProjectID, AgentID: scope.AgentID, User: scope.User,
			ConversationID: "conv_now", Arguments: json.RawMessage(args)})
	}

	out, err := call(ada, tool.ConversationSearchName, `{"query":"lemon tree swarm"}`)
	if err != nil || !strings.Contains(out, "Hive 2 swarmed into the lemon tree.") || strings.Count(out, `"conversation"`) != 1 {
		t.Errorf("conversation_search: %s %v", out, err)
	}

	out, err = call(ada, tool.MemoryWriteName, `{"text":"Ada's swarm lives in the lemon tree now."}`)
	if err != nil {
		t.Fatal(err)
	}
	var saved struct{ Saved struct{ ID string } }
	json.Unmarshal([]byte(out), &saved)
	stored, err := db.GetRecord(ctx, "proj_1", saved.Saved.ID)
	if err != nil || stored.Source != engram.SourceTool || stored.ConversationID != "conv_now" || stored.Scope() != ada {
		t.Fatalf("stored %+v %v", stored, err)
	}
	for _, scope := range []engram.MemoryScope{bob, other} {
		if out, err := call(scope, tool.MemorySearchName, `{"query":"lemon tree swarm"}`); err != nil || out != `{"results":[]}` {
			t.Errorf("%+v sees ada's memory: %s %v", scope, out, err)
		}
		if _, err := call(scope, tool.MemoryWriteName, `{"text":"x","supersedes":"`+saved.Saved.ID+`"}`); engram.ErrorCode(err) != engram.EInvalid {
			t.Errorf("%+v supersedes ada's record: %v", scope, err)
		}
	}
	out, err = call(ada, tool.MemorySearchName, `{"query":"where is the swarm"}`)
	if err != nil || !strings.Contains(out, saved.Saved.ID) {
		t.Errorf("ada's search: %s %v", out, err)
	}
}
