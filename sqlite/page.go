package sqlite

import (
	"strings"

	"github.com/engram-run/engram"
)

// listOrder is the order of a list and how a cursor (an id) becomes a
// position in it. Items are ordered by their log's seq; other lists by
// (created_at, id), as ids made elsewhere (imports) need not sort by time.
type listOrder struct {
	columns []string // the sort key, most significant first
	// cursor returns SQL for the sort key of the row with the cursor's id
	// and its arguments. fallback is the value an unknown cursor takes:
	// one that lets every row through, so an unknown cursor is ignored.
	cursor func(id, fallback string) (string, []any)
}

var itemOrder = listOrder{
	columns: []string{"seq"},
	cursor: func(id, fallback string) (string, []any) {
		return `(COALESCE((SELECT seq FROM items WHERE id = ?), ` + fallback + `))`, []any{id}
	},
}

// createdOrder orders rows of table by (created_at, id).
func createdOrder(table, prefix string) listOrder {
	return listOrder{
		columns: []string{prefix + "created_at", prefix + "id"},
		cursor: func(id, fallback string) (string, []any) {
			return `(COALESCE((SELECT created_at FROM ` + table + ` WHERE id = ?), ` + fallback + `), ?)`, []any{id, id}
		},
	}
}

const (
	minInt64 = "-9223372036854775808"
	maxInt64 = "9223372036854775807"
)

// pageQuery adds page's cursors, order and limit to q, a query whose WHERE
// clause is already open. It fetches one row more than the page holds, to
// learn whether more follow. A page with only a Before cursor is the page
// just before it, so the query then runs backwards; backwards reports it,
// and engram.FinishPage turns the rows round.
func pageQuery(q string, args []any, o listOrder, page engram.Page) (_ string, _ []any, backwards bool) {
	key := "(" + strings.Join(o.columns, ", ") + ")"
	later, earlier := ">", "<" // in the page's order
	if page.Desc() {
		later, earlier = earlier, later
	}
	bound := func(op, id string) {
		fallback := minInt64 // an unknown cursor lets every row through
		if op == "<" {
			fallback = maxInt64
		}
		sql, cargs := o.cursor(id, fallback)
		q += " AND " + key + " " + op + " " + sql
		args = append(args, cargs...)
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
	q += " ORDER BY " + strings.Join(o.columns, dir+", ") + dir + " LIMIT ?"
	return q, append(args, page.Size()+1), backwards
}

var (
	conversationOrder = createdOrder("conversations", "")
	agentOrder        = createdOrder("agents", "a.")
)
