package http_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

type scheduleOut struct {
	ID            string   `json:"id"`
	Object        string   `json:"object"`
	Agent         string   `json:"agent"`
	Cron          string   `json:"cron"`
	Timezone      string   `json:"timezone"`
	CatchUp       string   `json:"catch_up"`
	Paused        bool     `json:"paused"`
	NextFireAt    int64    `json:"next_fire_at"`
	NextFireTimes []string `json:"next_fire_times"`
}

func TestScheduleErrors(t *testing.T) {
	e := newEnv(t)
	e.do(t, "mine/admin", "POST", "/v1/agents", `{"name":"keeper","model":"scripted/echo"}`)
	_, theirs := e.do(t, "theirs/admin", "POST", "/v1/agents", `{"name":"theirs","model":"scripted/echo"}`)
	_, theirSched := e.do(t, "theirs/admin", "POST", "/v1/schedules", `{"agent":"theirs","cron":"0 9 * * *","input":"hi"}`)
	if id(theirs) == "" || id(theirSched) == "" {
		t.Fatalf("setup: %s %s", theirs, theirSched)
	}
	tests := []struct {
		name, key, method, path, body string
		status                        int
		contains                      string
	}{
		{"bad cron", "mine/admin", "POST", "/v1/schedules", `{"agent":"keeper","cron":"61 * * * *","input":"hi"}`, 400, `"param":"cron"`},
		{"bad zone", "mine/admin", "POST", "/v1/schedules", `{"agent":"keeper","cron":"0 9 * * *","timezone":"Mars/Olympus","input":"hi"}`, 400, `"param":"timezone"`},
		{"bad catch_up", "mine/admin", "POST", "/v1/schedules", `{"agent":"keeper","cron":"0 9 * * *","catch_up":"all","input":"hi"}`, 400, `"param":"catch_up"`},
		{"no agent", "mine/admin", "POST", "/v1/schedules", `{"cron":"0 9 * * *","input":"hi"}`, 400, `"param":"agent"`},
		{"unknown agent", "mine/admin", "POST", "/v1/schedules", `{"agent":"nobody","cron":"0 9 * * *","input":"hi"}`, 404, `"param":"agent"`},
		{"another project's agent", "mine/admin", "POST", "/v1/schedules", `{"agent":"` + id(theirs) + `","cron":"0 9 * * *","input":"hi"}`, 404, `"param":"agent"`},
		{"unknown conversation", "mine/admin", "POST", "/v1/schedules", `{"agent":"keeper","cron":"0 9 * * *","input":"hi","conversation":"conv_x"}`, 404, `"param":"conversation"`},
		{"no input", "mine/admin", "POST", "/v1/schedules", `{"agent":"keeper","cron":"0 9 * * *"}`, 400, `"param":"input"`},
		{"unknown field", "mine/admin", "POST", "/v1/schedules", `{"agent":"keeper","cron":"0 9 * * *","input":"hi","every":"day"}`, 400, `"param":"every"`},
		{"invoker cannot create", "mine/invoker", "POST", "/v1/schedules", `{"agent":"keeper","cron":"0 9 * * *","input":"hi"}`, 403, ``},
		{"another project's schedule", "mine/admin", "GET", "/v1/schedules/" + id(theirSched), ``, 404, ``},
		{"another project's schedule, pause", "mine/admin", "POST", "/v1/schedules/" + id(theirSched) + "/pause", ``, 404, ``},
		{"another project's schedule, delete", "mine/admin", "DELETE", "/v1/schedules/" + id(theirSched), ``, 404, ``},
	}
	for _, tt := range tests {
		status, body := e.do(t, tt.key, tt.method, tt.path, tt.body)
		if status != tt.status || !strings.Contains(body, tt.contains) {
			t.Errorf("%s: %d %s, want %d with %s", tt.name, status, body, tt.status, tt.contains)
		}
	}
}

func TestSchedules(t *testing.T) {
	e := newEnv(t)
	e.do(t, "mine/admin", "POST", "/v1/agents", `{"name":"keeper","model":"scripted/echo"}`)
	s := e.schedule(t, "POST", "/v1/schedules", `{"name":"morning","agent":"keeper","cron":"0 9 * * 1-5","timezone":"Europe/Lisbon","input":"Check the hives."}`)
	if s.Object != "schedule" || s.CatchUp != "skip" || s.Paused || s.NextFireAt <= time.Now().Unix() {
		t.Errorf("created: %+v", s)
	}
	s = e.schedule(t, "GET", "/v1/schedules/"+s.ID, "")
	if len(s.NextFireTimes) != 5 {
		t.Fatalf("next_fire_times = %v, want 5", s.NextFireTimes)
	}
	lisbon, _ := time.LoadLocation("Europe/Lisbon")
	for i, v := range s.NextFireTimes {
		ft, err := time.Parse(time.RFC3339, v)
		if err != nil {
			t.Fatal(err)
		}
		if l := ft.In(lisbon); l.Hour() != 9 || l.Minute() != 0 || l.Weekday() == time.Saturday || l.Weekday() == time.Sunday {
			t.Errorf("fire time %s is not 09:00 on a weekday in Lisbon", v)
		}
		if i == 0 && ft.Unix() != s.NextFireAt {
			t.Errorf("first fire time %s, next_fire_at %d", v, s.NextFireAt)
		}
	}

	// Pause: no next fire; resume: from now.
	p := e.schedule(t, "POST", "/v1/schedules/"+s.ID+"/pause", "")
	if !p.Paused || p.NextFireAt != 0 || len(p.NextFireTimes) != 0 {
		t.Errorf("paused: %+v", p)
	}
	r := e.schedule(t, "POST", "/v1/schedules/"+s.ID+"/resume", "")
	if r.Paused || r.NextFireAt != s.NextFireAt {
		t.Errorf("resumed: %+v, want next fire %d", r, s.NextFireAt)
	}

	// Update: the next fire follows the new expression.
	u := e.schedule(t, "POST", "/v1/schedules/"+s.ID, `{"cron":"*/5 * * * *","catch_up":"none"}`)
	if u.Cron != "*/5 * * * *" || u.CatchUp != "none" || u.NextFireAt%300 != 0 || u.NextFireAt-time.Now().Unix() > 300 {
		t.Errorf("updated: %+v", u)
	}
	if status, body := e.do(t, "mine/admin", "POST", "/v1/schedules/"+s.ID, `{"cron":"bad"}`); status != 400 || !strings.Contains(body, `"param":"cron"`) {
		t.Errorf("bad update: %d %s", status, body)
	}

	// List pages.
	for range 2 {
		e.schedule(t, "POST", "/v1/schedules", `{"agent":"keeper","cron":"0 0 1 1 *","input":"Happy new year."}`)
	}
	status, body := e.do(t, "mine/invoker", "GET", "/v1/schedules?limit=2", "")
	var page struct {
		Object  string        `json:"object"`
		Data    []scheduleOut `json:"data"`
		HasMore bool          `json:"has_more"`
		FirstID string        `json:"first_id"`
	}
	if err := json.Unmarshal([]byte(body), &page); status != 200 || err != nil {
		t.Fatalf("%d %s", status, body)
	}
	if page.Object != "list" || len(page.Data) != 2 || !page.HasMore || page.FirstID != s.ID || page.Data[0].Object != "schedule" {
		t.Errorf("list: %s", body)
	}
	if _, body := e.do(t, "theirs/admin", "GET", "/v1/schedules", ""); !strings.Contains(body, `"data":[]`) {
		t.Errorf("another project lists ours: %s", body)
	}

	if status, body := e.do(t, "mine/admin", "DELETE", "/v1/schedules/"+s.ID, ""); status != 200 || !strings.Contains(body, `"deleted":true`) {
		t.Errorf("delete: %d %s", status, body)
	}
	if status, _ := e.do(t, "mine/admin", "GET", "/v1/schedules/"+s.ID, ""); status != 404 {
		t.Errorf("deleted schedule: %d", status)
	}
}

// schedule makes a request with the project's admin key and decodes the
// schedule it answers.
func (e *env) schedule(t *testing.T, method, path, body string) scheduleOut {
	t.Helper()
	status, answer := e.do(t, "mine/admin", method, path, body)
	if status != 200 {
		t.Fatalf("%s %s: %d %s", method, path, status, answer)
	}
	var s scheduleOut
	if err := json.Unmarshal([]byte(answer), &s); err != nil {
		t.Fatal(err)
	}
	return s
}
