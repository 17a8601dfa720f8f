package engram

import (
	"context"
	"time"

	"github.com/engram-run/engram/cron"
)

// Schedule starts a response for an agent at the times a cron expression
// names, in a time zone. Each fire sends Input as a user message, in the
// named Conversation or, when it is empty, in a new conversation.
//
// A schedule fires at most once per fire time, across goroutines, nodes and
// restarts: the scheduler advances NextFireAt with a compare-and-set before
// it starts the response (see ScheduleStore.AdvanceSchedule). A crash between
// the two loses that one fire rather than risking it twice.
type Schedule struct {
	ID           string `json:"id"`
	ProjectID    string `json:"-"`
	Name         string `json:"name,omitempty"`
	Agent        string `json:"agent"` // id or name
	Cron         string `json:"cron"`
	Timezone     string `json:"timezone"` // IANA; "" is UTC
	Conversation string `json:"conversation,omitempty"`
	Input        string `json:"input"`
	// CatchUp says what a fire found late (the node was down or busy) does:
	// see CatchUpSkip and CatchUpNone.
	CatchUp string `json:"catch_up"`
	Paused  bool   `json:"paused"`
	// NextFireAt is the next time it fires, Unix seconds; 0 when paused or
	// when the expression never fires again.
	NextFireAt     int64             `json:"next_fire_at"`
	LastFireAt     int64             `json:"last_fire_at"`
	LastResponseID string            `json:"last_response_id,omitempty"`
	LastError      string            `json:"last_error,omitempty"` // why the last fire made no response
	Metadata       map[string]string `json:"metadata,omitempty"`
	CreatedAt      int64             `json:"created_at"`
	UpdatedAt      int64             `json:"updated_at"`
}

// Catch-up policies. A fire is late when it is found more than
// ScheduleGrace after its time; missed fires are never replayed one by one,
// as a backlog of identical runs after an outage helps nobody.
const (
	// CatchUpSkip (the default) fires once at once for all the fires
	// missed, then continues with the next fire time after now.
	CatchUpSkip = "skip"
	// CatchUpNone drops missed fires: a late schedule does not fire; it
	// waits for its next fire time after now.
	CatchUpNone = "none"
)

// ScheduleGrace is how late a fire may be found and still count as on
// time: the scheduler polls, so every fire is found a little late.
const ScheduleGrace = time.Minute

// spec parses the expression and the zone.
func (s *Schedule) spec() (*cron.Schedule, *time.Location, error) {
	c, err := cron.Parse(s.Cron)
	if err != nil {
		return nil, nil, ParamErrorf(EInvalid, "cron", "Invalid 'cron': %v", err)
	}
	loc, err := time.LoadLocation(s.zone())
	if err != nil {
		return nil, nil, ParamErrorf(EInvalid, "timezone", "Invalid 'timezone': unknown time zone %q.", s.Timezone)
	}
	return c, loc, nil
}

func (s *Schedule) zone() string {
	if s.Timezone == "" {
		return "UTC"
	}
	return s.Timezone
}

// Check fills in the defaults and reports the first field that is wrong,
// as an *Error naming it.
func (s *Schedule) Check() error {
	if s.Timezone == "" {
		s.Timezone = "UTC"
	}
	if s.CatchUp == "" {
		s.CatchUp = CatchUpSkip
	}
	if s.Agent == "" {
		return ParamErrorf(EInvalid, "agent", "Missing required parameter: 'agent'.")
	}
	if s.Input == "" {
		return ParamErrorf(EInvalid, "input", "Missing required parameter: 'input'.")
	}
	if s.CatchUp != CatchUpSkip && s.CatchUp != CatchUpNone {
		return ParamErrorf(EInvalid, "catch_up", "Invalid value for 'catch_up': expected 'skip' or 'none', but got '%s'.", s.CatchUp)
	}
	_, _, err := s.spec()
	return err
}

// NextFires returns up to n fire times after t, earliest first; fewer when
// the expression stops firing (or does not parse).
func (s *Schedule) NextFires(after time.Time, n int) []time.Time {
	c, loc, err := s.spec()
	if err != nil {
		return nil
	}
	var out []time.Time
	for len(out) < n {
		after = c.Next(after, loc)
		if after.IsZero() {
			break
		}
		out = append(out, after)
	}
	return out
}

// NextFireAfter is the first fire time after t in Unix seconds, 0 for never.
func (s *Schedule) NextFireAfter(t time.Time) int64 {
	if next := s.NextFires(t, 1); len(next) == 1 {
		return next[0].Unix()
	}
	return 0
}

// Plan decides what a schedule due at now (NextFireAt <= now) does, under
// its catch-up policy: whether it fires now, and its next fire time. The
// next time is always after now, so the fires missed are never replayed.
func (s *Schedule) Plan(now time.Time) (fire bool, next int64) {
	late := now.Sub(time.Unix(s.NextFireAt, 0)) > ScheduleGrace
	fire = !late || s.CatchUp != CatchUpNone
	return fire, s.NextFireAfter(now)
}

// ScheduleStore keeps schedules. Every method is scoped by project except
// DueSchedules, which the scheduler runs for the whole node.
type ScheduleStore interface {
	CreateSchedule(ctx context.Context, s *Schedule) error
	GetSchedule(ctx context.Context, projectID, id string) (*Schedule, error)
	ListSchedules(ctx context.Context, projectID string, page Page) ([]*Schedule, bool, error)
	// UpdateSchedule stores s's own fields, Paused and NextFireAt; the
	// record of the last fire is the scheduler's and is left as it is.
	UpdateSchedule(ctx context.Context, s *Schedule) error
	DeleteSchedule(ctx context.Context, projectID, id string) error

	// DueSchedules returns up to limit unpaused schedules of any project
	// whose NextFireAt is set and at most now, earliest first.
	DueSchedules(ctx context.Context, now int64, limit int) ([]*Schedule, error)
	// AdvanceSchedule moves a schedule's NextFireAt from expectNext to
	// newNext, and sets LastFireAt to firedAt when firedAt > 0 (clearing
	// LastResponseID and LastError). It is a compare-and-set: when
	// NextFireAt is no longer expectNext (another scheduler advanced it,
	// or it was paused or changed) it changes nothing and is EConflict.
	// The one caller that succeeds owns the fire.
	AdvanceSchedule(ctx context.Context, projectID, id string, expectNext, newNext, firedAt int64) error
	// RecordScheduleFire records the outcome of the fire at firedAt: the
	// response it started or the error it met. A later fire's record is
	// never overwritten by an earlier one's.
	RecordScheduleFire(ctx context.Context, projectID, id string, firedAt int64, responseID, errMsg string) error
}
