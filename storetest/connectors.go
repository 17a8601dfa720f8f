package storetest

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/engram-run/engram"
)

func newConnector(t *testing.T, s engram.Store, projectID, name string) *engram.Connector {
	t.Helper()
	c := &engram.Connector{ID: engram.NewID("conn"), ProjectID: projectID, Name: name, Kind: engram.ConnectorHTTP,
		Config: []byte(`{"base_url":"https://api.example.com"}`), Metadata: map[string]string{"team": "bees"}}
	must(t, s.CreateConnector(ctx, c))
	return c
}

func credential(projectID, connectorID, user, keyID, sealed string) *engram.Credential {
	return &engram.Credential{ProjectID: projectID, ConnectorID: connectorID, User: user, KeyID: keyID, Sealed: []byte(sealed)}
}

func testConnectors(t *testing.T, s engram.Store) {
	pid, other := newProject(t, s), newProject(t, s)
	c := newConnector(t, s, pid, "weather")
	if c.CreatedAt == 0 || c.UpdatedAt != c.CreatedAt {
		t.Errorf("CreateConnector set created_at %d, updated_at %d", c.CreatedAt, c.UpdatedAt)
	}
	for _, ref := range []string{c.ID, c.Name} {
		got, err := s.GetConnector(ctx, pid, ref)
		must(t, err)
		if !reflect.DeepEqual(got, c) {
			t.Errorf("GetConnector(%s) = %+v, want %+v", ref, got, c)
		}
	}
	// Names are unique in a project, not across projects.
	dup := *c
	dup.ID = engram.NewID("conn")
	wantCode(t, s.CreateConnector(ctx, &dup), engram.EConflict)
	newConnector(t, s, other, "weather")
	wantCode(t, s.CreateConnector(ctx, &engram.Connector{ID: engram.NewID("conn"), ProjectID: "proj_missing", Name: "x", Kind: "http"}), engram.ENotFound)

	// Another project's connector is not there for it.
	_, err := s.GetConnector(ctx, other, c.ID)
	wantCode(t, err, engram.ENotFound)
	theirs := *c
	theirs.ProjectID = other
	wantCode(t, s.UpdateConnector(ctx, &theirs), engram.ENotFound)
	wantCode(t, s.DeleteConnector(ctx, other, c.ID), engram.ENotFound)
	wantCode(t, s.PutCredential(ctx, credential(other, c.ID, "", "k1", "x")), engram.ENotFound)
	if list, _, err := s.ListConnectors(ctx, other, engram.Page{}); err != nil || len(list) != 1 || list[0].ID == c.ID {
		t.Errorf("ListConnectors(other project) = %v, %v", list, err)
	}

	// Credentials: the shared one and one per user; the connector shows
	// which exist, never what they hold.
	must(t, s.PutCredential(ctx, credential(pid, c.ID, "", "k1", "shared-sealed")))
	must(t, s.PutCredential(ctx, credential(pid, c.ID, "ada", "k1", "ada-sealed")))
	must(t, s.PutCredential(ctx, credential(pid, c.ID, "bob", "k1", "bob-sealed")))
	must(t, s.PutCredential(ctx, credential(pid, c.ID, "ada", "k2", "ada-sealed-2"))) // replaces
	got, err := s.GetConnector(ctx, pid, c.Name)
	must(t, err)
	if !got.HasSecret || !reflect.DeepEqual(got.Users, []string{"ada", "bob"}) {
		t.Errorf("connector shows has_secret %v, users %v", got.HasSecret, got.Users)
	}
	cred, err := s.GetCredential(ctx, pid, c.ID, "ada")
	must(t, err)
	if cred.KeyID != "k2" || !bytes.Equal(cred.Sealed, []byte("ada-sealed-2")) || cred.User != "ada" || cred.UpdatedAt == 0 {
		t.Errorf("GetCredential(ada) = %+v", cred)
	}
	_, err = s.GetCredential(ctx, pid, c.ID, "carol")
	wantCode(t, err, engram.ENotFound)
	_, err = s.GetCredential(ctx, other, c.ID, "ada")
	wantCode(t, err, engram.ENotFound)
	wantCode(t, s.DeleteCredential(ctx, other, c.ID, "bob"), engram.ENotFound)
	must(t, s.DeleteCredential(ctx, pid, c.ID, "bob"))
	wantCode(t, s.DeleteCredential(ctx, pid, c.ID, "bob"), engram.ENotFound)

	// Update changes the connector's fields and keeps its credentials.
	upd := *c
	upd.Name, upd.Config, upd.PerUser, upd.Metadata = "forecast", []byte(`{"base_url":"https://api.example.org"}`), true, nil
	must(t, s.UpdateConnector(ctx, &upd))
	got, err = s.GetConnector(ctx, pid, "forecast")
	must(t, err)
	if got.ID != c.ID || string(got.Config) != `{"base_url":"https://api.example.org"}` || !got.PerUser || len(got.Metadata) != 0 ||
		!got.HasSecret || !reflect.DeepEqual(got.Users, []string{"ada"}) {
		t.Errorf("after update: %+v", got)
	}
	_, err = s.GetConnector(ctx, pid, "weather")
	wantCode(t, err, engram.ENotFound)
	second := newConnector(t, s, pid, "weather")
	clash := upd
	clash.Name = "weather"
	wantCode(t, s.UpdateConnector(ctx, &clash), engram.EConflict)

	list, more, err := s.ListConnectors(ctx, pid, engram.Page{Order: "asc"})
	must(t, err)
	if more || len(list) != 2 || list[0].ID != c.ID || list[1].ID != second.ID || !list[0].HasSecret || list[1].HasSecret {
		t.Errorf("ListConnectors = %+v, more %v", list, more)
	}

	// Deleting a connector deletes its credentials.
	must(t, s.DeleteConnector(ctx, pid, "forecast"))
	_, err = s.GetConnector(ctx, pid, c.ID)
	wantCode(t, err, engram.ENotFound)
	_, err = s.GetCredential(ctx, pid, c.ID, "ada")
	wantCode(t, err, engram.ENotFound)
	wantCode(t, s.DeleteConnector(ctx, pid, c.ID), engram.ENotFound)
	wantCode(t, s.PutCredential(ctx, credential(pid, c.ID, "", "k1", "x")), engram.ENotFound)
}

// testCredentialsNotUnder: rotation pages through every project's
// credentials sealed under any key but the current one.
func testCredentialsNotUnder(t *testing.T, s engram.Store) {
	p1, p2 := newProject(t, s), newProject(t, s)
	a, b := newConnector(t, s, p1, "a"), newConnector(t, s, p2, "b")
	for _, cr := range []*engram.Credential{
		credential(p1, a.ID, "", "old", "1"), credential(p1, a.ID, "ada", "new", "2"),
		credential(p2, b.ID, "", "older", "3"), credential(p2, b.ID, "bob", "old", "4"),
	} {
		must(t, s.PutCredential(ctx, cr))
	}
	// Other tests' credentials may be in the store: count only these.
	mine := func(list []*engram.Credential) map[string]string {
		out := map[string]string{}
		for _, c := range list {
			if c.ProjectID == p1 || c.ProjectID == p2 {
				out[c.ConnectorID+"/"+c.User] = string(c.Sealed)
			}
		}
		return out
	}
	list, err := s.ListCredentialsNotUnder(ctx, "new", 1000)
	must(t, err)
	want := map[string]string{a.ID + "/": "1", b.ID + "/": "3", b.ID + "/bob": "4"}
	if got := mine(list); !reflect.DeepEqual(got, want) {
		t.Errorf("ListCredentialsNotUnder(new) = %v, want %v", got, want)
	}
	for _, c := range list {
		if c.KeyID == "new" {
			t.Errorf("listed a credential under the current key: %+v", c)
		}
	}
	// Re-sealing moves a credential out of the list; the limit holds.
	page, err := s.ListCredentialsNotUnder(ctx, "new", 1)
	must(t, err)
	if len(page) != 1 {
		t.Fatalf("limit 1 gave %d", len(page))
	}
	for _, c := range list {
		c.KeyID, c.Sealed = "new", []byte("resealed")
		must(t, s.PutCredential(ctx, c))
	}
	list, err = s.ListCredentialsNotUnder(ctx, "new", 1000)
	must(t, err)
	if got := mine(list); len(got) != 0 {
		t.Errorf("after re-sealing: %v", got)
	}
}
