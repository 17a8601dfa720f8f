package runtime_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/runtime"
	"github.com/engram-run/engram/sqlquery"
	"github.com/engram-run/engram/tool"
)

// fixedConnector is a stand-in for connector resolution only (the real one
// is secrets.Connectors): it knows one connector, and records whom each
// call acted for.
type fixedConnector struct {
	rc    *engram.ResolvedConnector
	users []string
}

func (o *fixedConnector) Resolve(_ context.Context, _, name, user string) (*engram.ResolvedConnector, error) {
	o.users = append(o.users, user)
	if name != o.rc.Connector.Name {
		return nil, engram.Errorf(engram.ENotFound, "connector %q not found", name)
	}
	return o.rc, nil
}

// TestConnectorTool: the connector a tool declaration names reaches the
// built-in tool with the call, with the run's end user.
func TestConnectorTool(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hives.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE hives (name TEXT); INSERT INTO hives VALUES ('Hive 2')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	conns := &fixedConnector{rc: &engram.ResolvedConnector{Connector: &engram.Connector{Name: "apiary", Kind: engram.ConnectorSQLite,
		Config: json.RawMessage(`{"path":` + jsonString(path) + `}`)}}}
	rt, _, pid := setupWith(t, func(rt *runtime.Runtime, _ engram.Store) {
		rt.Tools = tool.Builtins().Add(sqlquery.Tool(conns))
	})
	ask := func(connector string) (string, error) {
		r, err := rt.CreateResponse(context.Background(), pid, &engram.ResponseRequest{Model: "scripted/echo", User: "ada",
			Tools: []engram.ToolSpec{{Type: engram.ToolBuiltin, Name: sqlquery.Name, Connector: connector}},
			Input: []*engram.Item{{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText,
				Text: `call sql_query {"query":"SELECT name FROM hives"}`}}}}}, nil)
		if err != nil {
			return "", err
		}
		return r.Output[len(r.Output)-1].Text(), nil
	}
	if got, err := ask("apiary"); err != nil || !strings.Contains(got, `"rows":[["Hive 2"]]`) {
		t.Errorf("with the connector the model read %q (%v)", got, err)
	}
	if len(conns.users) != 1 || conns.users[0] != "ada" {
		t.Errorf("resolved for %q, want the run's user ada", conns.users)
	}
	if got, err := ask("elsewhere"); err != nil || !strings.Contains(got, `connector "elsewhere" does not exist`) {
		t.Errorf("with an unknown connector the model read %q (%v)", got, err)
	}
	// A declaration without a connector is refused before any run.
	if _, err := ask(""); engram.ErrorCode(err) != engram.EInvalid || !strings.Contains(engram.ErrorMessage(err), "works through a project connector") {
		t.Errorf("without a connector: %v", err)
	}
	if err := rt.ValidateAgent(&engram.Agent{Model: "scripted/echo", Tools: []engram.ToolSpec{{Type: engram.ToolBuiltin, Name: sqlquery.Name}}}); engram.ErrorCode(err) != engram.EUnprocessable {
		t.Errorf("an agent with sql_query and no connector: %v, want unprocessable", err)
	}
}

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }
