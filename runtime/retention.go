package runtime

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/engram-run/engram"
)

// RunRetention purges what retention policies let go, every
// RetentionInterval, until ctx ends or the node stops; a RetentionInterval
// of 0 or less turns it off.
//
// Every node runs it. Purging is idempotent (a row deleted twice is
// deleted once, and each node logs only the rows its own statements
// deleted), so nodes purging at once waste work but do no harm; the
// PostgreSQL store also lets one node at a time purge a project, the
// others' batches finding it busy and passing it by.
func (rt *Runtime) RunRetention(ctx context.Context) {
	if rt.RetentionInterval <= 0 {
		return
	}
	rt.everyPeriod(ctx, rt.RetentionInterval, nil, func() {
		if _, err := rt.PurgeExpired(ctx, time.Now()); err != nil && ctx.Err() == nil && !rt.stopping() {
			rt.Logger.Error("retention: purge failed", "err", err)
		}
	})
}

// PurgeExpired runs one purge pass over every project at now: for each
// kind, batches of RetentionBatch rows, each its own transaction, until
// nothing expired is left or RetentionMaxBatches batches have run (the
// rest waits for the next pass). It returns what it deleted per kind. A
// project whose purge fails does not keep the others from theirs: the
// pass goes on and returns the errors met, joined.
func (rt *Runtime) PurgeExpired(ctx context.Context, now time.Time) (map[string]engram.PurgeResult, error) {
	projects, err := rt.Store.ListProjects(ctx)
	if err != nil {
		return nil, err
	}
	total := map[string]engram.PurgeResult{}
	var errs []error
	for _, p := range projects {
		agents, err := rt.agentRetention(ctx, p.ID)
		if err != nil {
			errs = append(errs, fmt.Errorf("project %s: %w", p.ID, err))
			continue
		}
		if p.Retention == (engram.Retention{}) && len(agents) == 0 {
			continue // keeps everything
		}
		purge := engram.Purge{ProjectID: p.ID, Policy: p.Retention, Agents: agents, Now: now.Unix(), Limit: rt.RetentionBatch, Pass: engram.NewID("rpass")}
		for _, kind := range engram.PurgeKinds {
			purge.Kind = kind
			sum, batches, err := rt.purgeKind(ctx, purge)
			t := total[kind]
			t.Deleted, t.Rows = t.Deleted+sum.Deleted, t.Rows+sum.Rows
			total[kind] = t
			if sum.Rows > 0 || sum.Deleted > 0 {
				rt.Logger.Info("retention: purged", "project", p.ID, "kind", kind, "deleted", sum.Deleted, "rows", sum.Rows,
					"batches", batches, "pass", purge.Pass, "took", time.Since(now).Round(time.Millisecond))
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("project %s, %s: %w", p.ID, kind, err))
				break
			}
		}
	}
	return total, errors.Join(errs...)
}

// purgeKind runs batches of p until one deletes nothing.
func (rt *Runtime) purgeKind(ctx context.Context, p engram.Purge) (engram.PurgeResult, int, error) {
	var sum engram.PurgeResult
	for batches := 0; batches < rt.RetentionMaxBatches; batches++ {
		if ctx.Err() != nil || rt.stopping() {
			return sum, batches, ctx.Err()
		}
		res, err := rt.Store.Purge(ctx, p)
		if err != nil {
			return sum, batches, err
		}
		if res.Deleted == 0 && res.Rows == 0 {
			return sum, batches, nil
		}
		sum.Deleted += res.Deleted
		sum.Rows += res.Rows
		rt.auditPurge(ctx, p, res)
	}
	return sum, rt.RetentionMaxBatches, nil
}

// agentRetention returns the policies of a project's agents that have one
// of their own.
func (rt *Runtime) agentRetention(ctx context.Context, projectID string) (map[string]engram.Retention, error) {
	out := map[string]engram.Retention{}
	page := engram.Page{Limit: 1000}
	for {
		list, more, err := rt.Store.ListAgents(ctx, projectID, page)
		if err != nil {
			return nil, err
		}
		for _, a := range list {
			if a.Retention != nil {
				out[a.ID] = *a.Retention
			}
		}
		if !more || len(list) == 0 {
			return out, nil
		}
		page.After = list[len(list)-1].ID
	}
}

// auditPurge records a purge batch that deleted something in its project's
// audit log. The deletion is done whatever happens here: a failure to
// record it is logged, not returned.
func (rt *Runtime) auditPurge(ctx context.Context, p engram.Purge, res engram.PurgeResult) {
	err := engram.RecordAudit(ctx, rt.Audit, &engram.AuditEntry{
		ProjectID: p.ProjectID, Actor: "system:retention", Action: "retention.purge", Resource: p.Kind, Outcome: engram.AuditSuccess,
		Details: engram.AuditDetails(map[string]any{"deleted": res.Deleted, "rows": res.Rows, "pass": p.Pass}),
	})
	if err != nil {
		rt.Logger.Error("retention: could not record a purge in the audit log", "project", p.ProjectID, "kind", p.Kind, "err", err)
	}
}
