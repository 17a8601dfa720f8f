package sqlite

import (
	"testing"

	"github.com/engram-run/engram/storetest"
)

func FuzzItemRoundTrip(f *testing.F) {
	db := openTemp(f)
	defer db.Close()
	storetest.FuzzItemRoundTrip(f, db)
}

func FuzzPageCursors(f *testing.F) {
	db := openTemp(f)
	defer db.Close()
	storetest.FuzzPageCursors(f, db)
}
