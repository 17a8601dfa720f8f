package storecopy

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/internal/pgtest"
	"github.com/engram-run/engram/postgres"
	"github.com/engram-run/engram/secrets"
	"github.com/engram-run/engram/sqlite"
	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var ctx = context.Background()

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func text(role, s string) *engram.Item {
	part := engram.ContentInputText
	if role == "assistant" {
		part = engram.ContentOutputText
	}
	return &engram.Item{Type: engram.ItemMessage, Role: role, Content: []engram.Content{{Type: part, Text: s}}, Tokens: 7}
}

// filled is what fill stored, to look for on the other side.
type filled struct {
	project, other      string
	agent               *engram.Agent
	conv, fork, chat    *engram.Conversation
	response            *engram.Response
	record, vector      *engram.MemoryRecord
	block               *engram.MemoryBlock
	schedule            *engram.Schedule
	connector           *engram.Connector
	box                 *secrets.Box
	purgedConversations int64
}

// fill writes every kind of row through the Store interface.
func fill(t *testing.T, s engram.Store) *filled {
	f := &filled{}
	now := engram.Now()
	p := &engram.Project{ID: engram.NewID("proj"), Name: "Ruche — ruchers du Sud 🐝", CreatedAt: now, Retention: engram.Retention{EventsDays: 3}}
	must(t, s.CreateProject(ctx, p))
	f.project = p.ID
	other := &engram.Project{ID: engram.NewID("proj"), Name: "other", CreatedAt: now}
	must(t, s.CreateProject(ctx, other))
	f.other = other.ID
	for i, role := range []engram.Role{engram.RoleAdmin, engram.RoleInvoker} {
		k := &engram.APIKey{ID: engram.NewID("key"), ProjectID: p.ID, Name: "k", Prefix: "sk-engram-ab", Hash: engram.HashKey("secret" + string(role)), Role: role, User: []string{"", "ada"}[i], CreatedAt: now}
		must(t, s.CreateAPIKey(ctx, k))
	}
	f.agent = &engram.Agent{ID: engram.NewID("agent"), ProjectID: p.ID, Name: "keeper", Model: "scripted/echo", Instructions: "Help the beekeeper.",
		Retention: &engram.Retention{ConversationsDays: 365}, Memory: engram.AgentMemory{Extraction: engram.ExtractionPolicy{EveryTurns: 1}}}
	must(t, s.CreateAgent(ctx, f.agent))
	f.agent.Instructions = "Help the beekeeper, briefly."
	must(t, s.UpdateAgent(ctx, f.agent))

	// A conversation with a compaction item, a run with steps, events and
	// usage, a fork, and extraction state.
	f.conv = &engram.Conversation{ID: engram.NewID("conv"), ProjectID: p.ID, AgentID: f.agent.ID, User: "ada", Metadata: map[string]string{"topic": "hives"}}
	must(t, s.CreateConversation(ctx, f.conv, []*engram.Item{text("user", "Hive two lost its queen in March."), text("assistant", "Requeen hive two before summer.")}))
	must(t, s.AppendItems(ctx, p.ID, f.conv.ID, []*engram.Item{{Type: engram.ItemCompaction, EncryptedContent: "Summary: hive two is queenless.", CompactedThrough: 2, Tokens: 6}}))
	lease := engram.Lease{Owner: "w", Until: 1 << 60}
	f.response = &engram.Response{ID: engram.NewID("resp"), ProjectID: p.ID, ConversationID: f.conv.ID, Conversation: f.conv.ID, AgentID: f.agent.ID, AgentVersion: 2,
		Model: "agent/keeper", Status: engram.StatusInProgress, Lease: lease, User: "ada", Metadata: map[string]string{"k": "v"}}
	must(t, s.CreateResponse(ctx, f.response, []*engram.Item{text("user", "What about the honey harvest?")}))
	step := &engram.Step{ResponseID: f.response.ID, ProjectID: p.ID, N: 1, Kind: engram.StepModel, Status: engram.StepStarted, StartedAt: now}
	must(t, s.SaveStep(ctx, step, lease, []engram.StoredEvent{{Seq: 0, Type: "response.created", Data: json.RawMessage(`{"type":"response.created"}`)}}))
	step.Status, step.CompletedAt = engram.StepCompleted, now
	f.response.Status, f.response.CompletedAt = engram.StatusCompleted, now
	f.response.Usage = &engram.Usage{InputTokens: 30, OutputTokens: 9, TotalTokens: 39, StatelessInputTokens: 44}
	must(t, s.FinishResponse(ctx, f.response, engram.RunEnd{Lease: lease, Step: step,
		Output: []*engram.Item{text("assistant", "Harvest the supers in late July; leave the brood box.")},
		Events: []engram.StoredEvent{{Seq: 1, Type: "response.completed", Data: json.RawMessage(`{"type":"response.completed","é":"ü"}`)}},
		Usage: []*engram.UsageRecord{{ID: engram.NewID("usage"), ProjectID: p.ID, ResponseID: f.response.ID, ConversationID: f.conv.ID, AgentID: f.agent.ID, User: "ada",
			Provider: "scripted", Model: "echo", Usage: engram.Usage{InputTokens: 30, OutputTokens: 9, StatelessInputTokens: 44}, CreatedAt: now}}}))
	must(t, s.NoteTurn(ctx, &engram.Extraction{ConversationID: f.conv.ID, ProjectID: p.ID, AgentID: f.agent.ID, User: "ada", LastSeq: f.response.LastSeq},
		f.agent.Memory.Extraction, now))
	f.fork = &engram.Conversation{ID: engram.NewID("conv"), ProjectID: p.ID, AgentID: f.agent.ID, User: "ada", ForkOf: f.conv.ID, ForkSeq: 2}
	must(t, s.ForkConversation(ctx, f.fork))
	must(t, s.AppendItems(ctx, p.ID, f.fork.ID, []*engram.Item{text("user", "And the varroa count?")}))
	f.chat = &engram.Conversation{ID: engram.NewID("conv"), ProjectID: other.ID, Metadata: map[string]string{}}
	must(t, s.CreateConversation(ctx, f.chat, []*engram.Item{text("user", "Un autre projet, d'autres abeilles.")}))

	// Memory: a record with an embedding, one superseding another, blocks
	// with versions, a schedule.
	f.vector = &engram.MemoryRecord{ProjectID: p.ID, AgentID: f.agent.ID, User: "ada", Kind: engram.RecordFact, Text: "Ada keeps three hives in Lisbon.",
		Metadata: map[string]string{"source": "chat"}, ConversationID: f.conv.ID, ItemIDs: []string{"msg_1"}, Embedding: []float32{0.25, -1, 3.5, 0}, EmbeddingModel: "test/embed"}
	must(t, s.CreateRecord(ctx, f.vector))
	f.record = &engram.MemoryRecord{ProjectID: p.ID, AgentID: f.agent.ID, User: "ada", Kind: engram.RecordFact, Text: "Ada keeps four hives in Lisbon; the fourth is a swarm she caught.",
		Supersedes: f.vector.ID}
	must(t, s.CreateRecord(ctx, f.record))
	must(t, s.CreateRecord(ctx, &engram.MemoryRecord{ProjectID: p.ID, AgentID: f.agent.ID, User: "bob", Kind: engram.RecordPreference, Text: "Bob prefers top-bar hives."}))
	f.block = &engram.MemoryBlock{ID: engram.NewID("blk"), ProjectID: p.ID, Label: "human", Value: "Name: Ada.", Metadata: map[string]string{}}
	must(t, s.CreateBlock(ctx, f.block))
	f.block.Value = "Name: Ada. Keeps bees."
	must(t, s.UpdateBlock(ctx, f.block, 1))
	f.schedule = &engram.Schedule{ID: engram.NewID("sched"), ProjectID: p.ID, Agent: "keeper", Cron: "0 9 * * 1", Input: "Weekly hive check.", CatchUp: engram.CatchUpSkip, Metadata: map[string]string{"a": "b"}}
	must(t, f.schedule.Check())
	f.schedule.NextFireAt = now + 3600
	must(t, s.CreateSchedule(ctx, f.schedule))
	must(t, s.CreatePolicy(ctx, &engram.Policy{ProjectID: p.ID, Name: "no-deletes", Description: "d",
		Text: "@reason(\"no\")\nforbid (principal, action == Engram::Action::\"delete_repo\", resource);"}))

	// A connector with a shared and a per-user credential, sealed.
	f.connector = &engram.Connector{ID: engram.NewID("conn"), ProjectID: p.ID, Name: "hivemind", Kind: engram.ConnectorHTTP,
		Config: json.RawMessage(`{"base_url":"https://hives.example.com"}`), PerUser: true, Metadata: map[string]string{"a": "b"}}
	must(t, s.CreateConnector(ctx, f.connector))
	box, err := secrets.NewBox(bytes.Repeat([]byte{7}, secrets.KeySize))
	must(t, err)
	f.box = box
	for _, user := range []string{"", "ada"} {
		cred, err := box.Seal(p.ID, f.connector.ID, user, engram.Secret{Headers: map[string]string{"Authorization": "Bearer hive-" + user}})
		must(t, err)
		must(t, s.PutCredential(ctx, cred))
	}
	// A budget with a fractional dollar cap (a float on both sides).
	must(t, s.CreateBudget(ctx, &engram.Budget{ID: engram.NewID("budget"), ProjectID: p.ID, Scope: engram.BudgetAgent, Subject: f.agent.ID,
		Period: engram.PeriodMonth, MaxTokens: 1_000_000, MaxCostUSD: 12.34, Metadata: map[string]string{"owner": "ada"}}))

	// The retention log: a purge of an old, empty conversation.
	old := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: p.ID, CreatedAt: now - 90*86400, Metadata: map[string]string{}}
	must(t, s.CreateConversation(ctx, old, nil))
	res, err := s.Purge(ctx, engram.Purge{ProjectID: p.ID, Kind: engram.PurgeConversations, Policy: engram.Retention{ConversationsDays: 30}, Now: now})
	must(t, err)
	f.purgedConversations = res.Deleted

	// The audit log: a chain whose details hold characters a re-encoding
	// could change, and one entry in the other project.
	for _, e := range []*engram.AuditEntry{
		{ProjectID: p.ID, Actor: "key:k user:ada", Action: "POST /v1/agents", Resource: f.agent.ID, Outcome: engram.AuditSuccess,
			Details: engram.AuditDetails(map[string]any{"status": 200, "note": "<é & ü>"})},
		{ProjectID: p.ID, Actor: "system:retention", Action: "retention.purge", Resource: engram.PurgeConversations, Outcome: engram.AuditSuccess},
		{ProjectID: other.ID, Actor: "cli", Action: "DELETE /v1/keys/{id}", Resource: "key_x", Outcome: engram.AuditFailure},
	} {
		must(t, s.AppendAudit(ctx, e))
	}
	return f
}

func openSQLite(t *testing.T) *sqlite.DB {
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "engram.db"))
	must(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func openPostgres(t *testing.T, url string) *postgres.DB {
	db, err := postgres.Open(ctx, url)
	must(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestMigrate: a store with every kind of row moves to PostgreSQL and
// verifies; run again, it verifies only; the PostgreSQL store then serves
// what was migrated, searches included.
func TestMigrate(t *testing.T) {
	src := openSQLite(t)
	f := fill(t, src)
	if f.purgedConversations != 1 {
		t.Fatalf("the retention purge deleted %d conversations, want 1", f.purgedConversations)
	}
	url := pgtest.Database(t)
	dst := openPostgres(t, url)
	var progress bytes.Buffer
	report, err := Migrate(ctx, src, dst, Options{Progress: &progress})
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	t.Log("\n" + progress.String())
	if !report.Copied || len(report.Tables) != len(tables) {
		t.Fatalf("report %+v", report)
	}
	for _, r := range report.Tables {
		if r.Rows == 0 {
			t.Errorf("table %s copied no rows: the test store must fill every table", r.Name)
		}
		if len(r.Hash) != 64 {
			t.Errorf("table %s: hash %q", r.Name, r.Hash)
		}
	}
	for _, want := range []string{"copied   items", "verified memory_records", "rows/s", "Rebuilt"} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, progress.String())
		}
	}

	// Again: nothing to copy, the same rows verified.
	again, err := Migrate(ctx, src, dst, Options{})
	must(t, err)
	if again.Copied || again.Rows() != report.Rows() {
		t.Errorf("a second migration: copied %v, %d rows (first: %d)", again.Copied, again.Rows(), report.Rows())
	}
	dst.Close()

	// The PostgreSQL store serves it.
	pg := openPostgres(t, url)
	p, err := pg.GetProject(ctx, f.project)
	must(t, err)
	if p.Name != "Ruche — ruchers du Sud 🐝" || p.Retention.EventsDays != 3 {
		t.Errorf("project %+v", p)
	}
	if k, err := pg.FindAPIKey(ctx, engram.HashKey("secretinvoker")); err != nil || k.User != "ada" {
		t.Errorf("key: %+v %v", k, err)
	}
	versions, err := pg.ListAgentVersions(ctx, f.project, "keeper")
	must(t, err)
	if len(versions) != 2 || versions[1].Instructions != "Help the beekeeper, briefly." || versions[1].Retention == nil || versions[1].Retention.ConversationsDays != 365 {
		t.Errorf("agent versions %+v", versions)
	}
	c, err := pg.GetConversation(ctx, f.project, f.conv.ID)
	must(t, err)
	if c.Metadata["topic"] != "hives" || c.LastSeq != f.response.LastSeq || c.Tokens == 0 {
		t.Errorf("conversation %+v", c)
	}
	window, err := pg.RecentItems(ctx, f.project, f.conv.ID, 0, 100, 0)
	must(t, err)
	if len(window) == 0 || window[0].Type != engram.ItemCompaction {
		t.Errorf("the window does not start at the compaction item: %d items", len(window))
	}
	forkWindow, err := pg.RecentItems(ctx, f.project, f.fork.ID, 0, 100, 0)
	must(t, err)
	if got := forkWindow[len(forkWindow)-1].Text(); got != "And the varroa count?" || len(forkWindow) != 3 {
		t.Errorf("the fork reads %d items, last %q", len(forkWindow), got)
	}
	r, err := pg.GetResponse(ctx, f.project, f.response.ID)
	must(t, err)
	if r.Status != engram.StatusCompleted || len(r.Output) != 1 || r.Output[0].Text() != "Harvest the supers in late July; leave the brood box." || r.Usage == nil || r.Usage.InputTokens != 30 || r.AgentVersion != 2 {
		t.Errorf("response %+v", r)
	}
	steps, err := pg.ListSteps(ctx, f.project, f.response.ID)
	must(t, err)
	events, err2 := pg.ListEvents(ctx, f.project, f.response.ID, -1)
	must(t, err2)
	if len(steps) != 1 || len(events) != 2 || !strings.Contains(string(events[1].Data), `"é":"ü"`) {
		t.Errorf("steps %d, events %+v", len(steps), events)
	}
	usage, err := pg.UsageTotals(ctx, f.project, engram.UsageFilter{GroupBy: "project"})
	must(t, err)
	if len(usage) != 1 || usage[0].StatelessInputTokens != 44 {
		t.Errorf("usage %+v", usage)
	}
	rec, err := pg.GetRecord(ctx, f.project, f.vector.ID)
	must(t, err)
	if rec.SupersededBy != f.record.ID || !slices.Equal(rec.Embedding, f.vector.Embedding) || rec.EmbeddingModel != "test/embed" || rec.Metadata["source"] != "chat" {
		t.Errorf("record %+v", rec)
	}
	scope := engram.MemoryScope{ProjectID: f.project, AgentID: f.agent.ID, User: "ada"}
	found, err := pg.SearchRecordsText(ctx, scope, []string{"swarm", "hives"}, 5, false)
	must(t, err)
	if len(found) != 1 || found[0].Record.ID != f.record.ID {
		t.Errorf("full-text search of migrated records: %+v", found)
	}
	near, err := pg.SearchRecordsVector(ctx, scope, []float32{0.25, -1, 3.5, 0}, "test/embed", 5, true)
	must(t, err)
	if len(near) != 1 || near[0].Record.ID != f.vector.ID {
		t.Errorf("vector search of migrated records: %+v", near)
	}
	items, err := pg.SearchItemsText(ctx, scope, []string{"harvest", "supers"}, 5, "")
	must(t, err)
	if len(items) == 0 || items[0].Item.Text() != "Harvest the supers in late July; leave the brood box." {
		t.Errorf("full-text search of migrated messages: %+v", items)
	}
	// Written after the move, a record gets a pk past the copied ones.
	must(t, pg.CreateRecord(ctx, &engram.MemoryRecord{ProjectID: f.project, AgentID: f.agent.ID, User: "ada", Kind: engram.RecordFact, Text: "Ada bought a smoker."}))
	blockVersions, err := pg.ListBlockVersions(ctx, f.project, f.block.ID)
	must(t, err)
	if len(blockVersions) != 2 || blockVersions[1].Value != "Name: Ada. Keeps bees." {
		t.Errorf("block versions %+v", blockVersions)
	}
	sc, err := pg.GetSchedule(ctx, f.project, f.schedule.ID)
	must(t, err)
	if sc.Cron != "0 9 * * 1" || sc.NextFireAt != f.schedule.NextFireAt {
		t.Errorf("schedule %+v", sc)
	}
	// Credentials arrive sealed, as they were, and open with the same key.
	conn, err := pg.GetConnector(ctx, f.project, "hivemind")
	must(t, err)
	if !conn.PerUser || !conn.HasSecret || len(conn.Users) != 1 || conn.Users[0] != "ada" {
		t.Errorf("connector %+v", conn)
	}
	for _, user := range []string{"", "ada"} {
		before, err := src.GetCredential(ctx, f.project, f.connector.ID, user)
		must(t, err)
		after, err := pg.GetCredential(ctx, f.project, f.connector.ID, user)
		must(t, err)
		if !bytes.Equal(before.Sealed, after.Sealed) || before.KeyID != after.KeyID {
			t.Errorf("credential of %q changed in the copy", user)
		}
		secret, err := f.box.Open(after)
		must(t, err)
		if secret.Headers["Authorization"] != "Bearer hive-"+user {
			t.Errorf("credential of %q opens to %v", user, secret)
		}
	}
	x, err := pg.GetExtraction(ctx, f.project, f.conv.ID)
	must(t, err)
	if x.Status != engram.ExtractionPending {
		t.Errorf("extraction %+v", x)
	}
	log, _, err := pg.ListRetentionLog(ctx, f.project, engram.Page{})
	must(t, err)
	if len(log) != 1 || log[0].Deleted != 1 {
		t.Errorf("retention log %+v", log)
	}
	// The audit chain still verifies on PostgreSQL, and the next entry
	// links to the last one copied.
	must(t, pg.AppendAudit(ctx, &engram.AuditEntry{ProjectID: f.project, Actor: "cli", Action: "POST /v1/keys", Resource: "key_y", Outcome: engram.AuditSuccess}))
	chain, _, err := pg.ListAudit(ctx, f.project, engram.AuditFilter{})
	must(t, err)
	if len(chain) != 3 || chain[2].Seq != 3 {
		t.Errorf("audit chain after the move: %d entries", len(chain))
	}
	must(t, engram.VerifyAudit(chain, engram.AuditGenesis))
	other, _, err := pg.ListItems(ctx, f.other, f.chat.ID, engram.Page{})
	must(t, err)
	if len(other) != 1 || other[0].Text() != "Un autre projet, d'autres abeilles." {
		t.Errorf("the other project's conversation: %+v", other)
	}
}

// TestMigrateRefusesAnotherDatabase: a target holding other rows is left
// as it is, and the error says where it differs.
func TestMigrateRefusesAnotherDatabase(t *testing.T) {
	src := openSQLite(t)
	fill(t, src)
	dst := openPostgres(t, pgtest.Database(t))
	// What `engram serve` makes on its first start.
	must(t, dst.CreateProject(ctx, &engram.Project{ID: engram.NewID("proj"), Name: "default", CreatedAt: engram.Now()}))
	_, err := Migrate(ctx, src, dst, Options{})
	if err == nil || !strings.Contains(err.Error(), "not empty") || !strings.Contains(err.Error(), "projects differs") {
		t.Fatalf("migrating into another store's database: %v", err)
	}
	projects, err := dst.ListProjects(ctx)
	must(t, err)
	if len(projects) != 1 {
		t.Errorf("the refused target now has %d projects", len(projects))
	}
}

// TestVerifyFindsChanges: after a migration, a row changed, added or
// removed on one side is found, and named by its key.
func TestVerifyFindsChanges(t *testing.T) {
	src := openSQLite(t)
	f := fill(t, src)
	dst := openPostgres(t, pgtest.Database(t))
	_, err := Migrate(ctx, src, dst, Options{})
	must(t, err)
	pool := dst.Pool()
	_, err = pool.Exec(ctx, `UPDATE items SET body = replace(body, 'March', 'April') WHERE conversation_id = $1 AND seq = 1`, f.conv.ID)
	must(t, err)
	_, err = pool.Exec(ctx, `DELETE FROM usage`)
	must(t, err)
	_, err = Verify(ctx, src, dst, Options{})
	if err == nil || !strings.Contains(err.Error(), "items differs") || !strings.Contains(err.Error(), "("+f.conv.ID+", 1)") ||
		!strings.Contains(err.Error(), "usage differs: 1 rows in the source, 0 in the target") {
		t.Fatalf("verify after changes: %v", err)
	}
}

// BenchmarkMigrate moves a store of 1000 conversations of 100 messages
// (about 100,000 items, with their conversations) and reports the whole
// migration's rate: copy, reindex (the messages' search text) and verify.
func BenchmarkMigrate(b *testing.B) {
	for range b.N {
		b.StopTimer()
		src, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "engram.db"))
		if err != nil {
			b.Fatal(err)
		}
		p := &engram.Project{ID: engram.NewID("proj"), Name: "p", CreatedAt: engram.Now()}
		if err := src.CreateProject(ctx, p); err != nil {
			b.Fatal(err)
		}
		for i := range 1000 {
			log := make([]*engram.Item, 100)
			for j := range log {
				log[j] = text([]string{"user", "assistant"}[j%2], strings.Repeat("the colony was calm after we added a super ", 3))
			}
			c := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: p.ID, User: "ada", AgentID: []string{"a", "b"}[i%2]}
			if err := src.CreateConversation(ctx, c, log); err != nil {
				b.Fatal(err)
			}
		}
		dst, err := postgres.Open(ctx, pgtest.Database(b))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		report, err := Migrate(ctx, src, dst, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(report.Rows())/time.Since(start).Seconds(), "rows/s")
		b.StopTimer()
		src.Close()
		dst.Close()
	}
}

// TestMigrateUnderAnotherCollation: a database whose collation orders text
// otherwise than bytes (ICU's en-US puts "a" before "B"; bytes put "B"
// first) is still read back in SQLite's order, so rows compare as pairs.
func TestMigrateUnderAnotherCollation(t *testing.T) {
	src := openSQLite(t)
	for _, id := range []string{"proj_B", "proj_a", "proj_é", "proj_Z"} {
		must(t, src.CreateProject(ctx, &engram.Project{ID: id, Name: id, CreatedAt: engram.Now()}))
	}
	base, err := pgx.Connect(ctx, pgtest.Server(t))
	must(t, err)
	defer base.Close(ctx)
	name := "engram_test_icu_" + strings.ToLower(engram.NewID("db")[3:15])
	_, err = base.Exec(ctx, `CREATE DATABASE `+name+` TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'`)
	must(t, err)
	t.Cleanup(func() { base.Exec(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`) })
	u, err := url.Parse(pgtest.Server(t))
	must(t, err)
	u.Path = "/" + name
	dst := openPostgres(t, u.String())
	var order []string
	rows, err := dst.Pool().Query(ctx, `SELECT id FROM projects ORDER BY id`)
	must(t, err)
	order, err = pgx.CollectRows(rows, pgx.RowTo[string])
	must(t, err)
	if len(order) != 0 {
		t.Fatalf("a new database holds projects %v", order)
	}
	_, err = Migrate(ctx, src, dst, Options{})
	must(t, err)
	rows, err = dst.Pool().Query(ctx, `SELECT id FROM projects ORDER BY id`)
	must(t, err)
	order, err = pgx.CollectRows(rows, pgx.RowTo[string])
	must(t, err)
	if order[0] != "proj_a" {
		t.Fatalf("the database's own order %v does not differ from bytes': the test proves nothing", order)
	}
}
