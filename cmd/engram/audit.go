package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/engram-run/engram"
)

const auditUsage = `Usage: engram audit <command> [flags]

The project's hash-chained audit log (an admin key): every request that
changed state, tool call, policy decision and retention purge. See
docs/audit.md for what each entry holds and how its hash is computed.

Commands:
  audit list [--actor A] [--action A] [--resource R] [--outcome O] [--from T] [--to T]
             [--after SEQ] [--before SEQ] [--order asc|desc] [--limit N] [--json]
        entries, newest first by default; T is Unix milliseconds or RFC 3339
  audit export [--out FILE]
        every entry, oldest first, as JSON Lines (one entry a line) to FILE or
        standard output; prints the head (last seq and hash) on standard error
  audit verify [--expect-head HASH]
        read the whole chain from the server and check it here: seqs gapless
        from 1, each prev_hash the hash before it, each hash and details digest
        recomputed
  audit verify --file FILE [--expect-head HASH]
        check an exported copy, offline (no server, no key)

--expect-head HASH also requires the chain to hold the entry with that hash
(the head printed by an earlier export or verify): entries removed from the
end of a chain leave a valid chain, and only a head kept elsewhere tells.
verify exits non-zero naming the first bad entry.

Flags:
`

// runAudit lists, exports and verifies the audit log: "engram audit
// list|export|verify".
func runAudit(ctx context.Context, e *invocation, args []string) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	serverURL, key := clientFlags(fs, e)
	asJSON := fs.Bool("json", false, "print the server's JSON (list)")
	var f struct {
		actor, action, resource, outcome, from, to, order string
		after, before                                     int64
		limit                                             int
		out, file, expectHead                             string
	}
	fs.StringVar(&f.actor, "actor", "", `entries of this actor only, e.g. "key:key_… user:ada", system:retention (list)`)
	fs.StringVar(&f.action, "action", "", `entries of this action only, e.g. "POST /v1/agents", tool.call (list)`)
	fs.StringVar(&f.resource, "resource", "", "entries about this resource only (list)")
	fs.StringVar(&f.outcome, "outcome", "", "success, failure, allow, deny or ask (list)")
	fs.StringVar(&f.from, "from", "", "entries at or after this time: Unix milliseconds or RFC 3339 (list)")
	fs.StringVar(&f.to, "to", "", "entries before this time: Unix milliseconds or RFC 3339 (list)")
	fs.Int64Var(&f.after, "after", 0, "entries after this seq, in the list's order (list)")
	fs.Int64Var(&f.before, "before", 0, "entries before this seq, in the list's order (list)")
	fs.StringVar(&f.order, "order", "desc", "asc (oldest first) or desc (list)")
	fs.IntVar(&f.limit, "limit", 20, "entries to list, 1 to 1000 (list)")
	fs.StringVar(&f.out, "out", "", "write the export to this file instead of standard output (export)")
	fs.StringVar(&f.file, "file", "", "verify this exported copy instead of the server's chain (verify)")
	fs.StringVar(&f.expectHead, "expect-head", "", "the hash of an entry the chain must hold, such as the head of an earlier export (verify)")
	fs.Usage = func() {
		fmt.Fprint(e.stderr, auditUsage)
		fs.PrintDefaults()
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fs.Usage()
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	verb := args[0]
	if verb != "list" && verb != "export" && verb != "verify" {
		fs.Usage()
		return fmt.Errorf("unknown command %q for engram audit", verb)
	}
	positional, done, err := parseFlags(fs, args[1:])
	if done {
		return err
	}
	if len(positional) > 0 {
		return fmt.Errorf("engram audit %s takes no arguments (got %q)", verb, positional[0])
	}
	if verb == "verify" && f.file != "" {
		return verifyAuditFile(e, f.file, f.expectHead)
	}
	c, err := newClient(*serverURL, *key)
	if err != nil {
		return err
	}
	switch verb {
	case "list":
		q := url.Values{"order": {f.order}, "limit": {strconv.Itoa(f.limit)}}
		for name, v := range map[string]string{"actor": f.actor, "action": f.action, "resource": f.resource, "outcome": f.outcome} {
			if v != "" {
				q.Set(name, v)
			}
		}
		for name, v := range map[string]string{"from": f.from, "to": f.to} {
			if v != "" {
				ms, err := parseAuditTime(v)
				if err != nil {
					return fmt.Errorf("--%s: %w", name, err)
				}
				q.Set(name, strconv.FormatInt(ms, 10))
			}
		}
		for name, v := range map[string]int64{"after": f.after, "before": f.before} {
			if v != 0 {
				q.Set(name, strconv.FormatInt(v, 10))
			}
		}
		var list struct {
			Data    []*engram.AuditEntry `json:"data"`
			HasMore bool                 `json:"has_more"`
		}
		raw, err := c.do(ctx, "GET", "/v1/audit?"+q.Encode(), nil, &list)
		if err != nil {
			return err
		}
		r := &resourceRun{e: e, c: c, verb: verb, asJSON: *asJSON, fs: fs}
		r.show(raw, func() {
			var rows [][]string
			for _, x := range list.Data {
				rows = append(rows, []string{strconv.FormatInt(x.Seq, 10), time.UnixMilli(x.Time).UTC().Format("2006-01-02 15:04:05.000"),
					x.Actor, x.Action, orDash(x.Resource), x.Outcome})
			}
			r.table("SEQ\tTIME\tACTOR\tACTION\tRESOURCE\tOUTCOME", rows)
			if list.HasMore && len(list.Data) > 0 {
				fmt.Fprintf(e.stderr, "(more: --after %d)\n", list.Data[len(list.Data)-1].Seq)
			}
		})
		return nil
	case "export":
		return exportAudit(ctx, e, c, f.out)
	}
	v := &engram.AuditVerifier{Expect: f.expectHead}
	verr := pageAudit(ctx, c, func(page []*engram.AuditEntry) error { return v.Add(page) })
	var apiErr *apiError
	if errors.As(verr, &apiErr) {
		return verr // the server's, not the chain's
	}
	return reportVerification(e, v, verr)
}

// parseAuditTime reads Unix milliseconds or an RFC 3339 time.
func parseAuditTime(v string) (int64, error) {
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return 0, fmt.Errorf("%q is neither Unix milliseconds nor an RFC 3339 time (2026-01-31T12:00:00Z)", v)
	}
	return t.UnixMilli(), nil
}

// pageAudit reads the whole chain from the server, oldest first, a page at
// a time.
func pageAudit(ctx context.Context, c *client, fn func([]*engram.AuditEntry) error) error {
	var after int64
	for {
		var list struct {
			Data    []*engram.AuditEntry `json:"data"`
			HasMore bool                 `json:"has_more"`
		}
		q := url.Values{"order": {"asc"}, "limit": {strconv.Itoa(engram.AuditMaxLimit)}, "after": {strconv.FormatInt(after, 10)}}
		if _, err := c.do(ctx, "GET", "/v1/audit?"+q.Encode(), nil, &list); err != nil {
			return err
		}
		if err := fn(list.Data); err != nil {
			return err
		}
		if !list.HasMore || len(list.Data) == 0 {
			return nil
		}
		after = list.Data[len(list.Data)-1].Seq
	}
}

// exportAudit writes every entry as a line of JSON (engram.AuditEntry's
// fields; details as the server keeps them, so their digest holds).
func exportAudit(ctx context.Context, e *invocation, c *client, out string) error {
	w := e.stdout
	var file *os.File
	if out != "" {
		var err error
		if file, err = os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
			return err
		}
		defer file.Close()
		w = file
	}
	bw := bufio.NewWriter(w)
	var n int64
	var head *engram.AuditEntry
	err := pageAudit(ctx, c, func(page []*engram.AuditEntry) error {
		for _, x := range page {
			line, err := json.Marshal(x)
			if err != nil {
				return err
			}
			bw.Write(line)
			if err := bw.WriteByte('\n'); err != nil {
				return err
			}
			n, head = n+1, x
		}
		return nil
	})
	if err == nil {
		err = bw.Flush()
	}
	if err == nil && file != nil {
		err = file.Close()
	}
	if err != nil {
		return err
	}
	if head == nil {
		fmt.Fprintln(e.stderr, "exported 0 entries: the audit log is empty")
		return nil
	}
	fmt.Fprintf(e.stderr, "exported %d entries; head seq %d, hash %s\n(keep the hash: engram audit verify --file FILE --expect-head HASH)\n", n, head.Seq, head.Hash)
	return nil
}

// verifyAuditFile checks an exported copy, a line at a time.
func verifyAuditFile(e *invocation, path, expect string) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	v := &engram.AuditVerifier{Expect: expect}
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var page []*engram.AuditEntry
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		x := &engram.AuditEntry{}
		if err := json.Unmarshal([]byte(text), x); err != nil {
			return fmt.Errorf("%s, line %d: not an audit entry: %w", path, line, err)
		}
		if page = append(page, x); len(page) == engram.AuditMaxLimit {
			if err := v.Add(page); err != nil {
				return reportVerification(e, v, err)
			}
			page = nil
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%s, line %d: %w", path, line+1, err)
		}
		return err
	}
	return reportVerification(e, v, v.Add(page))
}

// reportVerification prints what verified and returns the first failure,
// the chain's end not holding the expected head included.
func reportVerification(e *invocation, v *engram.AuditVerifier, err error) error {
	if err == nil {
		err = v.Finish()
	}
	entries := fmt.Sprintf("%d entries", v.Entries)
	if v.Entries == 1 {
		entries = "1 entry"
	}
	if v.Head != nil {
		fmt.Fprintf(e.stdout, "%s verified; head seq %d, hash %s\n", entries, v.Head.Seq, v.Head.Hash)
	} else {
		fmt.Fprintf(e.stdout, "%s verified\n", entries)
	}
	if err != nil {
		if v.BadSeq != 0 {
			return fmt.Errorf("the audit chain is broken at entry %d: %s", v.BadSeq, engram.ErrorMessage(err))
		}
		return fmt.Errorf("the audit chain does not verify: %s", engram.ErrorMessage(err))
	}
	if v.Expect != "" {
		fmt.Fprintln(e.stdout, "the audit chain verifies and holds the expected head")
	} else {
		fmt.Fprintln(e.stdout, "the audit chain verifies (entries removed from its end show only with --expect-head)")
	}
	return nil
}
