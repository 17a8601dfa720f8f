package storetest

import (
	"testing"

	"github.com/engram-run/engram"
)

// testProjectUpdate: a project's name, retention and auth change together
// and read back as written; its id and creation time never change.
func testProjectUpdate(t *testing.T, s engram.Store) {
	jwt := engram.JWTAuth{JWKSURL: "https://idp.example/.well-known/jwks.json", Issuer: "https://idp.example/", Audience: "hives-app", UserClaim: "email", Role: engram.RoleDeveloper}
	p := &engram.Project{ID: engram.NewID("proj"), Name: "hives", Auth: engram.ProjectAuth{JWT: jwt}, CreatedAt: 1700000000}
	must(t, s.CreateProject(ctx, p))
	got, err := s.GetProject(ctx, p.ID)
	must(t, err)
	if *got != *p {
		t.Fatalf("GetProject = %+v, want %+v (auth is stored on create)", got, p)
	}
	other := newProject(t, s)

	changed := *p
	changed.Name = "apiary"
	changed.Retention = engram.Retention{ConversationsDays: 30}
	changed.Auth = engram.ProjectAuth{}
	changed.CreatedAt = 1 // not stored
	must(t, s.UpdateProject(ctx, &changed))
	got, err = s.GetProject(ctx, p.ID)
	must(t, err)
	want := changed
	want.CreatedAt = p.CreatedAt
	if *got != want {
		t.Errorf("after UpdateProject: %+v, want %+v", got, want)
	}
	if got.Auth.JWT.Enabled() {
		t.Errorf("clearing auth left a JWT configuration: %+v", got.Auth)
	}
	o, err := s.GetProject(ctx, other)
	must(t, err)
	if o.Name != "p" || o.Auth.JWT.Enabled() {
		t.Errorf("updating one project changed another: %+v", o)
	}
	wantCode(t, s.UpdateProject(ctx, &engram.Project{ID: "proj_missing", Name: "x"}), engram.ENotFound)

	// SetRetention keeps the auth, and UpdateProject's auth survives a list.
	changed.Auth = engram.ProjectAuth{JWT: jwt}
	must(t, s.UpdateProject(ctx, &changed))
	must(t, s.SetRetention(ctx, p.ID, engram.Retention{EventsDays: 2}))
	list, err := s.ListProjects(ctx)
	must(t, err)
	for _, lp := range list {
		if lp.ID == p.ID && (lp.Auth.JWT != jwt || lp.Retention.EventsDays != 2) {
			t.Errorf("ListProjects shows %+v", lp)
		}
	}
}

// testProjectWithKey: a project and its first key are stored together or
// not at all.
func testProjectWithKey(t *testing.T, s engram.Store) {
	secret, shown := engram.NewKeySecret()
	p := &engram.Project{ID: engram.NewID("proj"), Name: "new", CreatedAt: engram.Now()}
	k := &engram.APIKey{ID: engram.NewID("key"), ProjectID: "ignored", Name: "admin", Prefix: shown, Hash: engram.HashKey(secret), Role: engram.RoleAdmin, CreatedAt: engram.Now()}
	must(t, s.CreateProjectWithKey(ctx, p, k))
	if k.ProjectID != p.ID {
		t.Errorf("the key's project is %q, want %q", k.ProjectID, p.ID)
	}
	found, err := s.FindAPIKey(ctx, engram.HashKey(secret))
	must(t, err)
	if found.ProjectID != p.ID || found.Role != engram.RoleAdmin {
		t.Errorf("FindAPIKey = %+v", found)
	}

	// A key that cannot be stored (its hash is taken) leaves no project.
	failed := &engram.Project{ID: engram.NewID("proj"), Name: "half", CreatedAt: engram.Now()}
	dup := *k
	dup.ID = engram.NewID("key")
	wantCode(t, s.CreateProjectWithKey(ctx, failed, &dup), engram.EConflict)
	_, err = s.GetProject(ctx, failed.ID)
	wantCode(t, err, engram.ENotFound)
	// Nor does a project that exists already get a second first key.
	again := &engram.APIKey{ID: engram.NewID("key"), Name: "x", Prefix: "p", Hash: engram.HashKey("sk-engram-again"), Role: engram.RoleAdmin, CreatedAt: engram.Now()}
	wantCode(t, s.CreateProjectWithKey(ctx, &engram.Project{ID: p.ID, Name: "dup", CreatedAt: 1}, again), engram.EConflict)
	_, err = s.FindAPIKey(ctx, again.Hash)
	wantCode(t, err, engram.ENotFound)
}
