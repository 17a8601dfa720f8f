package engram

import "slices"

// Size is how many rows a page holds: Limit, 20 when unset, at most 1,000.
func (p Page) Size() int {
	if p.Limit <= 0 {
		return 20
	}
	return min(p.Limit, 1000)
}

// FinishPage takes the rows a store read for page (one more than Size, to
// learn whether there are more; read backwards when paging before a cursor
// alone), drops the extra row, reporting whether there was one, and puts
// rows read backwards into the page's order.
func FinishPage[T any](rows []T, page Page, backwards bool) ([]T, bool) {
	more := false
	if n := page.Size(); len(rows) > n {
		rows, more = rows[:n], true
	}
	if backwards {
		slices.Reverse(rows)
	}
	return rows, more
}

// PageItems pages items already in memory (in log order) as the stores page
// them in SQL, with item ids as cursors.
func PageItems(items []*Item, page Page) ([]*Item, bool) {
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
	n := page.Size()
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
