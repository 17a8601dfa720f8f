package postgres

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/engram-run/engram"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Bus is an engram.EventBus over PostgreSQL's LISTEN/NOTIFY, for the
// replicas sharing one database. Each Bus holds two connections of its
// own, outside the store's pool: one LISTENs (a pooled connection would
// lose its LISTEN when returned), the other sends, one batch at a time, so
// that a node's messages arrive in the order it sent them.
//
// Every replica LISTENs on one channel. Traffic stays small because a node
// publishes a run's events only after another node asked for them; a node
// ignores its own messages and the events of runs nobody follows on it.
type Bus struct {
	id       string // this bus in messages, to recognise its own
	listenTo *pgx.ConnConfig
	notifyTo *pgx.ConnConfig
	logger   *slog.Logger
	queue    chan outgoing
	stop     context.CancelFunc
	done     sync.WaitGroup

	mu    sync.Mutex
	feeds map[string]map[*feed]struct{} // by run id
	onAsk func(runID string, after int64)

	// partial is the event each sender is part way through, by sender:
	// a node sends an event's chunks in one transaction, so they arrive
	// together and one per sender is enough. Only the listener uses it.
	partial map[string]*partialEvent
}

var _ engram.EventBus = (*Bus)(nil)

const (
	// notifyChannel is the channel every replica LISTENs on.
	notifyChannel = "engram_stream"
	// maxPayload is the most NOTIFY carries (PostgreSQL refuses 8000 bytes
	// or more), less a margin.
	maxPayload = 7900
	// queueLength bounds the messages waiting to be sent: past it,
	// Publish drops rather than slow a run down.
	queueLength = 8192
	// feedLength bounds the events waiting for one subscriber: past it,
	// they are dropped and the subscriber told to catch up.
	feedLength = 4096
	// batchLength bounds the messages sent in one round trip.
	batchLength = 64
	// idleCheck is how long the listener waits for a notification before
	// it checks that its connection is still alive.
	idleCheck = 30 * time.Second
	// sendTimeout bounds one batch's round trip.
	sendTimeout = 10 * time.Second
	// Application names of the bus's connections, shown in pg_stat_activity.
	listenApplication = "engram-bus-listen"
	notifyApplication = "engram-bus-notify"
)

// Message kinds, the first field of a payload.
const (
	kindEvent = "e" // e SENDER RUN SEQ TYPE PART PARTS ENCODING DATA
	kindNudge = "n" // n SENDER RUN
	kindAsk   = "a" // a SENDER RUN AFTER
)

type outgoing struct {
	kind  string
	run   string
	ev    engram.StoredEvent
	after int64
}

type feed struct {
	events  chan engram.StoredEvent
	catchUp chan struct{}
}

type partialEvent struct {
	run   string
	seq   int64
	typ   string
	parts int
	enc   string
	data  []string
}

// NewBus connects to the database at url (the store's URL; pool settings
// in it are ignored) and LISTENs. The bus runs until Close; ctx bounds
// only the first connection.
func NewBus(ctx context.Context, url string, logger *slog.Logger) (*Bus, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var id [8]byte
	rand.Read(id[:])
	b := &Bus{id: hex.EncodeToString(id[:]), logger: logger, queue: make(chan outgoing, queueLength),
		feeds: map[string]map[*feed]struct{}{}, partial: map[string]*partialEvent{}}
	b.listenTo, b.notifyTo = cfg.ConnConfig.Copy(), cfg.ConnConfig.Copy()
	b.listenTo.RuntimeParams["application_name"] = listenApplication
	b.notifyTo.RuntimeParams["application_name"] = notifyApplication
	// Neither connection runs anything long; a statement timeout from the
	// URL would only cut the listener's wait.
	delete(b.listenTo.RuntimeParams, "statement_timeout")

	listener, err := b.connectListener(ctx)
	if err != nil {
		return nil, mapErr(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	b.stop = stop
	b.done.Add(2)
	go func() { defer b.done.Done(); b.listen(runCtx, listener) }()
	go func() { defer b.done.Done(); b.send(runCtx) }()
	return b, nil
}

// Close stops the bus and closes its connections. Messages still queued
// are dropped: followers find their events in the store.
func (b *Bus) Close() {
	b.stop()
	b.done.Wait()
}

// Publish implements engram.EventBus.
func (b *Bus) Publish(runID string, ev engram.StoredEvent) {
	b.enqueue(outgoing{kind: kindEvent, run: runID, ev: ev})
}

// Nudge implements engram.EventBus.
func (b *Bus) Nudge(runID string) { b.enqueue(outgoing{kind: kindNudge, run: runID}) }

// AskReplay implements engram.EventBus.
func (b *Bus) AskReplay(runID string, after int64) {
	b.enqueue(outgoing{kind: kindAsk, run: runID, after: after})
}

// OnReplayAsked implements engram.EventBus.
func (b *Bus) OnReplayAsked(f func(runID string, after int64)) {
	b.mu.Lock()
	b.onAsk = f
	b.mu.Unlock()
}

func (b *Bus) enqueue(m outgoing) {
	select {
	case b.queue <- m:
	default:
		// Behind: never hold a run up. Followers see a gap and fill it
		// from the store or a replay.
	}
}

// Subscribe implements engram.EventBus.
func (b *Bus) Subscribe(runID string) *engram.EventFeed {
	f := &feed{events: make(chan engram.StoredEvent, feedLength), catchUp: make(chan struct{}, 1)}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.feeds[runID] == nil {
		b.feeds[runID] = map[*feed]struct{}{}
	}
	b.feeds[runID][f] = struct{}{}
	return &engram.EventFeed{Events: f.events, CatchUp: f.catchUp, Close: func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.feeds[runID], f)
		if len(b.feeds[runID]) == 0 {
			delete(b.feeds, runID)
		}
	}}
}

func (f *feed) signal() {
	select {
	case f.catchUp <- struct{}{}:
	default: // one signal stands for any number
	}
}

// send NOTIFYs the queued messages in order, a batch per round trip. A
// batch is one transaction, so an event's chunks arrive together.
func (b *Bus) send(ctx context.Context) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for {
		var payloads []string
		select {
		case <-ctx.Done():
			return
		case m := <-b.queue:
			payloads = b.encode(payloads, m)
		}
	more:
		for len(payloads) < batchLength {
			select {
			case m := <-b.queue:
				payloads = b.encode(payloads, m)
			default:
				break more
			}
		}
		// One retry on a fresh connection: a lost connection is the
		// usual failure, and the batch may not have been sent.
		for attempt := 0; attempt < 2; attempt++ {
			if conn == nil {
				if conn = b.connect(ctx, b.notifyTo); conn == nil {
					return // closing
				}
			}
			batch := &pgx.Batch{}
			for _, p := range payloads {
				batch.Queue("SELECT pg_notify($1, $2)", notifyChannel, p)
			}
			// Bounded: a stalled server must not hold the queue for ever.
			sendCtx, cancel := context.WithTimeout(ctx, sendTimeout)
			err := conn.SendBatch(sendCtx, batch).Close()
			cancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			b.logger.Warn("stream bus: sending failed", "err", err)
			conn.Close(context.Background())
			conn = nil
		}
	}
}

// connect opens a connection, retrying with backoff until it succeeds or
// ctx ends (then nil).
func (b *Bus) connect(ctx context.Context, cfg *pgx.ConnConfig) *pgx.Conn {
	wait := 50 * time.Millisecond
	for {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			return conn
		}
		if ctx.Err() != nil {
			return nil
		}
		b.logger.Warn("stream bus: connecting failed", "application", cfg.RuntimeParams["application_name"], "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

func (b *Bus) connectListener(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, b.listenTo)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

// listen receives the notifications and hands them out. After a lost
// connection it reconnects (with backoff), LISTENs again, and tells every
// subscriber to catch up from the store: what was sent meanwhile is gone.
func (b *Bus) listen(ctx context.Context, conn *pgx.Conn) {
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for {
		if conn == nil {
			conn = b.connect(ctx, b.listenTo)
			if conn == nil {
				return
			}
			if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
				b.logger.Warn("stream bus: LISTEN failed", "err", err)
				conn.Close(context.Background())
				conn = nil
				continue
			}
			clear(b.partial)
			b.catchUpAll()
		}
		wait, cancel := context.WithTimeout(ctx, idleCheck)
		n, err := conn.WaitForNotification(wait)
		cancel()
		switch {
		case err == nil:
			b.receive(n.Payload)
			continue
		case ctx.Err() != nil:
			return
		case pgconn.Timeout(err):
			// Quiet for a while: make sure the connection still works,
			// or a dead one would hold the bus silent for ever.
			ping, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err = conn.Exec(ping, "SELECT 1")
			cancel()
			if err == nil {
				continue
			}
		}
		if ctx.Err() != nil {
			return
		}
		b.logger.Warn("stream bus: lost the listening connection; reconnecting", "err", err)
		conn.Close(context.Background())
		conn = nil
	}
}

func (b *Bus) catchUpAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, fs := range b.feeds {
		for f := range fs {
			f.signal()
		}
	}
}

// encode appends m's payloads: one, or an event's chunks.
func (b *Bus) encode(payloads []string, m outgoing) []string {
	switch m.kind {
	case kindNudge:
		return append(payloads, kindNudge+" "+b.id+" "+m.run)
	case kindAsk:
		return append(payloads, kindAsk+" "+b.id+" "+m.run+" "+strconv.FormatInt(m.after, 10))
	}
	return append(payloads, b.eventPayloads(m.run, m.ev)...)
}

// eventPayloads splits an event into chunks that fit a NOTIFY. Data that
// is text travels as it is, cut between characters (a payload must be
// valid text); anything else as base64.
func (b *Bus) eventPayloads(run string, ev engram.StoredEvent) []string {
	data, enc := string(ev.Data), "t"
	if !utf8.ValidString(data) || strings.IndexByte(data, 0) >= 0 {
		data, enc = base64.StdEncoding.EncodeToString(ev.Data), "b"
	}
	head := kindEvent + " " + b.id + " " + run + " " + strconv.FormatInt(ev.Seq, 10) + " " + ev.Type + " "
	// Room for the part numbers and the encoding: 2×10 digits, 3 spaces.
	room := maxPayload - len(head) - 24
	if room < 256 {
		return nil // an absurd run id or type; followers use the store
	}
	var chunks []string
	for len(data) > room {
		cut := room
		for cut > 0 && !utf8.RuneStart(data[cut]) {
			cut--
		}
		chunks, data = append(chunks, data[:cut]), data[cut:]
	}
	chunks = append(chunks, data)
	out := make([]string, len(chunks))
	for i, c := range chunks {
		out[i] = head + strconv.Itoa(i) + " " + strconv.Itoa(len(chunks)) + " " + enc + " " + c
	}
	return out
}

// receive handles one notification.
func (b *Bus) receive(payload string) {
	kind, rest, _ := strings.Cut(payload, " ")
	sender, rest, _ := strings.Cut(rest, " ")
	if sender == b.id {
		return // this node's own: its broker has it
	}
	switch kind {
	case kindNudge:
		b.mu.Lock()
		for f := range b.feeds[rest] {
			f.signal()
		}
		b.mu.Unlock()
	case kindAsk:
		run, after, _ := strings.Cut(rest, " ")
		n, err := strconv.ParseInt(after, 10, 64)
		b.mu.Lock()
		ask := b.onAsk
		b.mu.Unlock()
		if err == nil && ask != nil {
			ask(run, n)
		}
	case kindEvent:
		b.receiveChunk(sender, rest)
	}
}

// receiveChunk reassembles an event from its chunks and hands it out.
func (b *Bus) receiveChunk(sender, rest string) {
	c, ok := parseChunk(rest)
	if !ok {
		b.logger.Warn("stream bus: a malformed message", "sender", sender)
		return
	}
	p := b.partial[sender]
	b.mu.Lock()
	_, wanted := b.feeds[c.run]
	b.mu.Unlock()
	if !wanted {
		// Nobody here follows the run: skip it, chunks and all.
		if p != nil {
			delete(b.partial, sender)
			if p.run != c.run {
				b.lost(p.run)
			}
		}
		return
	}
	if c.part == 0 {
		if p != nil {
			b.lost(p.run) // the rest of the previous event never came
		}
		p = &partialEvent{run: c.run, seq: c.seq, typ: c.typ, parts: c.parts, enc: c.enc}
	} else if p == nil || p.run != c.run || p.seq != c.seq || len(p.data) != c.part || p.parts != c.parts {
		delete(b.partial, sender)
		if p != nil {
			b.lost(p.run)
		}
		b.lost(c.run)
		return
	}
	p.data = append(p.data, c.data)
	if len(p.data) < p.parts {
		b.partial[sender] = p
		return
	}
	delete(b.partial, sender)
	data := []byte(strings.Join(p.data, ""))
	if p.enc == "b" {
		var err error
		if data, err = base64.StdEncoding.DecodeString(string(data)); err != nil {
			b.lost(p.run)
			return
		}
	}
	ev := engram.StoredEvent{Seq: p.seq, Type: p.typ, Data: data}
	b.mu.Lock()
	defer b.mu.Unlock()
	for f := range b.feeds[p.run] {
		select {
		case f.events <- ev:
		default: // the subscriber is behind: it catches up from the store
			f.signal()
		}
	}
}

// lost tells a run's subscribers that one of its events went missing.
func (b *Bus) lost(run string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for f := range b.feeds[run] {
		f.signal()
	}
}

type chunk struct {
	run, typ, enc, data string
	seq                 int64
	part, parts         int
}

// parseChunk reads "RUN SEQ TYPE PART PARTS ENCODING DATA".
func parseChunk(s string) (chunk, bool) {
	var f [6]string
	for i := range f {
		var ok bool
		if f[i], s, ok = strings.Cut(s, " "); !ok {
			return chunk{}, false
		}
	}
	c := chunk{run: f[0], typ: f[2], enc: f[5], data: s}
	var err1, err2, err3 error
	c.seq, err1 = strconv.ParseInt(f[1], 10, 64)
	c.part, err2 = strconv.Atoi(f[3])
	c.parts, err3 = strconv.Atoi(f[4])
	if err1 != nil || err2 != nil || err3 != nil || c.part < 0 || c.part >= c.parts || (c.enc != "t" && c.enc != "b") {
		return chunk{}, false
	}
	return c, true
}
