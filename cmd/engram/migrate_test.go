package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/internal/pgtest"
	"github.com/engram-run/engram/postgres"
	"github.com/engram-run/engram/sqlite"
)

func TestMigrateCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "engram.db"))
	if err != nil {
		t.Fatal(err)
	}
	p := &engram.Project{ID: engram.NewID("proj"), Name: "default", CreatedAt: engram.Now()}
	c := &engram.Conversation{ID: engram.NewID("conv"), ProjectID: p.ID, Metadata: map[string]string{}}
	if err := db.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateConversation(ctx, c, []*engram.Item{{Type: engram.ItemMessage, Role: "user",
		Content: []engram.Content{{Type: engram.ContentInputText, Text: "Moving house."}}, Tokens: 3}}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	url := pgtest.Database(t)
	migrate := func(args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, append([]string{"migrate"}, args...), func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
		return out.String(), errOut.String(), err
	}
	out, progress, err := migrate("--from", "sqlite:"+dir, "--to", url)
	if err != nil || !regexp.MustCompile(`^Migrated 3 rows in \d+ tables`).MatchString(out) || !strings.Contains(progress, "verified items") {
		t.Fatalf("migrate: %q %q %v", out, progress, err)
	}
	out, _, err = migrate("--from", "sqlite:"+filepath.Join(dir, "engram.db"), "--to", url, "--quiet")
	if err != nil || out != "" {
		t.Fatalf("migrate again, quiet: %q %v", out, err)
	}
	out, _, err = migrate("--from", "sqlite:"+dir, "--to", url)
	if err != nil || !strings.HasPrefix(out, "Already migrated; verified 3 rows") {
		t.Fatalf("migrate again: %q %v", out, err)
	}
	pg, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	items, _, err := pg.ListItems(ctx, p.ID, c.ID, engram.Page{})
	if err != nil || len(items) != 1 || items[0].Text() != "Moving house." {
		t.Errorf("after migrate: %v %v", items, err)
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", dir, "--to", url}, "sqlite:PATH"},
		{[]string{"--from", "sqlite:" + dir, "--to", "mysql://x"}, "postgres://"},
		{[]string{"--from", "sqlite:" + filepath.Join(dir, "nowhere"), "--to", url}, "no such file"},
	} {
		if _, _, err := migrate(tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("migrate %v: %v, want %q", tt.args, err, tt.want)
		}
	}
	_, help, err := migrate("--help")
	if err != nil || !strings.Contains(help, "Usage: engram migrate --from sqlite:PATH --to postgres://") {
		t.Errorf("--help: %q %v", help, err)
	}
}
