package postgres

import (
	"slices"
	"strconv"
	"strings"

	"github.com/engram-run/engram"
)

// params numbers a statement's parameters as they are added: PostgreSQL's
// placeholders are positional ($1, $2, …), so a query built in parts
// needs one counter.
type params []any

// add appends v and returns its placeholder.
func (p *params) add(v any) string {
	*p = append(*p, v)
	return "$" + strconv.Itoa(len(*p))
}

// listOrder is the order of a list and how a cursor (an id) becomes a
// position in it. Items are ordered by their log's seq; other lists by
// (created_at, id), as ids made elsewhere (imports) need not sort by time.
type listOrder struct {
	columns []string // the sort key, most significant first
	// cursor returns SQL for the sort key of the row with the cursor's id.
	// fallback is the value an unknown cursor takes: one that lets every
	// row through, so an unknown cursor is ignored.
	cursor func(p *params, id, fallback string) string
}

var itemOrder = listOrder{
	columns: []string{"seq"},
	cursor: func(p *params, id, fallback string) string {
		return `(COALESCE((SELECT seq FROM items WHERE id = ` + p.add(id) + `), ` + fallback + `))`
	},
}

// createdOrder orders rows of table by (created_at, id).
func createdOrder(table, prefix string) listOrder {
	return listOrder{
		columns: []string{prefix + "created_at", prefix + "id"},
		cursor: func(p *params, id, fallback string) string {
			ph := p.add(id)
			return `(COALESCE((SELECT created_at FROM ` + table + ` WHERE id = ` + ph + `), ` + fallback + `), ` + ph + `::text)`
		},
	}
}

// The bounds are typed: an untyped -9223372036854775808 is numeric in
// PostgreSQL, and comparing a bigint column with a numeric keeps the
// index from being used.
const (
	minInt64 = "(-9223372036854775808)::bigint"
	maxInt64 = "9223372036854775807::bigint"
)

// pageQuery adds page's cursors, order and limit to q, a query whose WHERE
// clause is already open. It fetches one row more than the page holds, to
// learn whether more follow. A page with only a Before cursor is the page
// just before it, so the query then runs backwards; backwards reports it,
// and finishPage turns the rows round.
func pageQuery(q string, p *params, o listOrder, page engram.Page) (_ string, backwards bool) {
	key := "(" + strings.Join(o.columns, ", ") + ")"
	later, earlier := ">", "<" // in the page's order
	if page.Desc() {
		later, earlier = earlier, later
	}
	bound := func(op, id string) {
		// A cursor comes from a request's query: one PostgreSQL cannot
		// take as text (a NUL) names no row, as an unknown cursor.
		id = pgText(id)
		fallback := minInt64 // an unknown cursor lets every row through
		if op == "<" {
			fallback = maxInt64
		}
		q += " AND " + key + " " + op + " " + o.cursor(p, id, fallback)
	}
	if page.After != "" {
		bound(later, page.After)
	}
	if page.Before != "" {
		bound(earlier, page.Before)
	}
	backwards = page.Before != "" && page.After == ""
	dir := " ASC"
	if page.Desc() != backwards {
		dir = " DESC"
	}
	q += " ORDER BY " + strings.Join(o.columns, dir+", ") + dir + " LIMIT " + p.add(pageLimit(page)+1)
	return q, backwards
}

// finishPage drops the extra row pageQuery fetched, reporting whether there
// was one, and puts rows read backwards into the page's order.
func finishPage[T any](rows []T, page engram.Page, backwards bool) ([]T, bool) {
	more := false
	if n := pageLimit(page); len(rows) > n {
		rows, more = rows[:n], true
	}
	if backwards {
		slices.Reverse(rows)
	}
	return rows, more
}

var (
	conversationOrder = createdOrder("conversations", "")
	agentOrder        = createdOrder("agents", "a.")
	responseOrder     = createdOrder("responses", "")
)

// pageSlice pages items already in memory (in log order) as pageQuery
// would page them in SQL.
func pageSlice(items []*engram.Item, page engram.Page) ([]*engram.Item, bool) {
	pos := func(id string) int {
		for i, it := range items {
			if it.ID == id {
				return i
			}
		}
		return -1
	}
	lo, hi := 0, len(items) // [lo, hi) in log order
	if page.Desc() {
		if i := pos(page.After); page.After != "" && i >= 0 {
			hi = i
		}
		if i := pos(page.Before); page.Before != "" && i >= 0 {
			lo = i + 1
		}
	} else {
		if i := pos(page.After); page.After != "" && i >= 0 {
			lo = i + 1
		}
		if i := pos(page.Before); page.Before != "" && i >= 0 {
			hi = i
		}
	}
	if lo > hi {
		lo = hi
	}
	rows := slices.Clone(items[lo:hi])
	backwards := page.Before != "" && page.After == ""
	if page.Desc() {
		slices.Reverse(rows)
	}
	n := pageLimit(page)
	more := len(rows) > n
	if more {
		if backwards {
			rows = rows[len(rows)-n:]
		} else {
			rows = rows[:n]
		}
	}
	return rows, more
}
