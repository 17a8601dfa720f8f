package postgres

import (
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
// and engram.FinishPage turns the rows round.
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
	q += " ORDER BY " + strings.Join(o.columns, dir+", ") + dir + " LIMIT " + p.add(page.Size()+1)
	return q, backwards
}

var (
	conversationOrder = createdOrder("conversations", "")
	agentOrder        = createdOrder("agents", "a.")
	responseOrder     = createdOrder("responses", "")
)
