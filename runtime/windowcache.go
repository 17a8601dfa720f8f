package runtime

import (
	"math"
	"sync"

	"github.com/engram-run/engram"
)

// windowCache keeps the newest items of active conversations in memory, so
// that a turn reads from the store only what it has not seen, and building
// the window for turn 10,000 costs what it costs for turn 10.
//
// An entry is trusted only while the conversation's LastSeq and Tokens in
// the store equal the entry's: any other writer (another replica, an item
// deleted through the API) changes one of them and the entry is dropped.
type windowCache struct {
	mu         sync.Mutex
	entries    map[string]*cachedWindow
	maxEntries int
}

type cachedWindow struct {
	lastSeq  int64
	tokens   int64          // the conversation's Tokens this entry matches
	items    []*engram.Item // the log's newest items, oldest first
	sum      int            // tokens of items
	complete bool           // items are the whole log
	keep     int            // tokens to keep: the largest window asked of it
}

func newWindowCache(maxEntries int) *windowCache {
	return &windowCache{entries: map[string]*cachedWindow{}, maxEntries: maxEntries}
}

// get returns the newest items of c fitting room tokens and maxItems, as the
// store's RecentItems would, or false when the cache cannot answer.
func (wc *windowCache) get(c *engram.Conversation, maxItems, room int) ([]*engram.Item, bool) {
	room = unlimited(room)
	wc.mu.Lock()
	defer wc.mu.Unlock()
	e := wc.entries[c.ID]
	if e == nil || e.lastSeq != c.LastSeq || e.tokens != c.Tokens {
		return nil, false
	}
	if !e.complete && e.sum < room && len(e.items) < maxItems {
		return nil, false // the window wants older items than the cache holds
	}
	if room > e.keep {
		e.keep = room
	}
	return tail(e.items, maxItems, room), true
}

// tail returns the newest items within maxItems and room tokens; the newest
// item always, and a compaction item at the head always, as RecentItems
// does.
func tail(items []*engram.Item, maxItems, room int) []*engram.Item {
	if len(items) > 0 && items[0].Type == engram.ItemCompaction {
		rest := tail(items[1:], maxItems-1, room-items[0].Tokens)
		return append([]*engram.Item{items[0]}, rest...)
	}
	n, sum := 0, 0
	for i := len(items) - 1; i >= 0 && n < maxItems; i-- {
		sum += items[i].Tokens
		if sum > room && n > 0 {
			break
		}
		n++
	}
	out := make([]*engram.Item, n)
	copy(out, items[len(items)-n:])
	return out
}

// put stores the window just read from the store for c.
func (wc *windowCache) put(c *engram.Conversation, items []*engram.Item, room int) {
	room = unlimited(room)
	sum := 0
	for _, it := range items {
		sum += it.Tokens
	}
	wc.mu.Lock()
	defer wc.mu.Unlock()
	wc.evictIfFull()
	wc.entries[c.ID] = &cachedWindow{lastSeq: c.LastSeq, tokens: c.Tokens, items: items, sum: sum,
		complete: int64(sum) == c.Tokens, keep: room}
}

// advance appends the items a response added to c's entry, if the entry
// is the state the response started from.
func (wc *windowCache) advance(convID string, fromSeq, fromTokens int64, added []*engram.Item, lastSeq int64) {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	e := wc.entries[convID]
	if e == nil {
		return
	}
	if e.lastSeq != fromSeq || e.tokens != fromTokens {
		delete(wc.entries, convID)
		return
	}
	for _, it := range added {
		if it.Type == engram.ItemCompaction {
			delete(wc.entries, convID) // the window now starts elsewhere: read it afresh
			return
		}
		e.items = append(e.items, it)
		e.sum += it.Tokens
		e.tokens += int64(it.Tokens)
	}
	e.lastSeq = lastSeq
	// Forget what no window will read again, keeping the slice from
	// growing without bound.
	// A compaction item at the head stays: it stands for all before it.
	first := 0
	if len(e.items) > 0 && e.items[0].Type == engram.ItemCompaction {
		first = 1
	}
	drop := first
	for drop < len(e.items)-1 && e.sum-e.items[drop].Tokens >= e.keep {
		e.sum -= e.items[drop].Tokens
		drop++
	}
	if drop > first {
		e.complete = false
		e.items = append(append(e.items[:0:0], e.items[:first]...), e.items[drop:]...)
	}
}

// unlimited reads a room of 0 as the store does: no token limit.
func unlimited(room int) int {
	if room <= 0 {
		return math.MaxInt
	}
	return room
}

func (wc *windowCache) evictIfFull() {
	if len(wc.entries) < wc.maxEntries {
		return
	}
	for id := range wc.entries { // map order is random: a fair victim
		delete(wc.entries, id)
		return
	}
}
