package secrets

import (
	"bytes"
	"context"
	"fmt"

	"github.com/engram-run/engram"
)

// Connectors gives tools a project's connectors with their credentials in
// clear, for the end user a run acts for (on-behalf-of).
type Connectors struct {
	Store engram.ConnectorStore
	Box   *Box
}

var _ engram.Connectors = (*Connectors)(nil)

// Resolve implements engram.Connectors. The user's own credential wins; a
// per-user connector without one for user is EForbidden (it never falls
// back to the shared credential); otherwise the shared one, or none.
func (c *Connectors) Resolve(ctx context.Context, projectID, name, user string) (*engram.ResolvedConnector, error) {
	conn, err := c.Store.GetConnector(ctx, projectID, name)
	if err != nil {
		if engram.ErrorCode(err) == engram.ENotFound {
			return nil, engram.Errorf(engram.ENotFound, "connector %s not found", name)
		}
		return nil, err
	}
	if user != "" {
		s, found, err := c.open(ctx, projectID, conn.ID, user)
		if err != nil || found {
			return &engram.ResolvedConnector{Connector: conn, Secret: s, User: user}, err
		}
	}
	if conn.PerUser {
		if user == "" {
			return nil, engram.Errorf(engram.EForbidden, "connector %s needs a credential per user, and this run acts for no user", conn.Name)
		}
		return nil, engram.Errorf(engram.EForbidden, "connector %s needs a credential for user %s", conn.Name, user)
	}
	s, _, err := c.open(ctx, projectID, conn.ID, "")
	if err != nil {
		return nil, err
	}
	return &engram.ResolvedConnector{Connector: conn, Secret: s}, nil
}

func (c *Connectors) open(ctx context.Context, projectID, connectorID, user string) (engram.Secret, bool, error) {
	cred, err := c.Store.GetCredential(ctx, projectID, connectorID, user)
	if engram.ErrorCode(err) == engram.ENotFound {
		return engram.Secret{}, false, nil
	}
	if err != nil {
		return engram.Secret{}, false, err
	}
	s, err := c.Box.Open(cred)
	return s, err == nil, err
}

// Rotate re-seals under the box's current key every credential sealed
// under another, batch by batch (each credential its own write), and
// returns how many it re-sealed. Run again, it finds nothing left to do;
// stopped part way, it resumes where it was. A credential under a key the
// box does not hold stops it: ENGRAM_MASTER_KEY_PREVIOUS must name that key.
// Each re-sealing is recorded in its project's audit log with audit (nil:
// not recorded) before the next one, so the log says how far it got.
func Rotate(ctx context.Context, store engram.ConnectorStore, box *Box, batch int, audit engram.Auditor) (int, error) {
	if batch <= 0 {
		batch = 100
	}
	n := 0
	for {
		creds, err := store.ListCredentialsNotUnder(ctx, box.KeyID(), batch)
		if err != nil {
			return n, err
		}
		if len(creds) == 0 {
			return n, nil
		}
		for _, old := range creds {
			if !box.Knows(old.KeyID) {
				return n, fmt.Errorf("connector %s (project %s) has a credential sealed under master key %s, which is neither ENGRAM_MASTER_KEY nor in ENGRAM_MASTER_KEY_PREVIOUS", old.ConnectorID, old.ProjectID, old.KeyID)
			}
			// A credential the API replaced since it was listed is left as
			// the replacement made it (under the current key, or listed
			// again next round), never overwritten with the old value.
			now, err := store.GetCredential(ctx, old.ProjectID, old.ConnectorID, old.User)
			if engram.ErrorCode(err) == engram.ENotFound {
				continue
			} else if err != nil {
				return n, err
			}
			if now.KeyID != old.KeyID || !bytes.Equal(now.Sealed, old.Sealed) {
				continue
			}
			s, err := box.Open(old)
			if err != nil {
				return n, err
			}
			cred, err := box.Seal(old.ProjectID, old.ConnectorID, old.User, s)
			if err != nil {
				return n, err
			}
			if err := store.PutCredential(ctx, cred); err != nil {
				return n, err
			}
			n++
			resource := old.ConnectorID
			if old.User != "" {
				resource += "/" + old.User
			}
			if err := engram.RecordAudit(ctx, audit, &engram.AuditEntry{ProjectID: old.ProjectID, Actor: "cli", Action: "secrets.rotate",
				Resource: resource, Outcome: engram.AuditSuccess, Details: engram.AuditDetails(map[string]string{"from_key": old.KeyID, "to_key": cred.KeyID})}); err != nil {
				return n, err
			}
		}
	}
}
