// Package engram holds the domain of Engram, a stateful runtime for AI
// agents: projects and keys, agents, conversations and their items,
// responses (runs) and usage, and the interfaces of the things that store
// and serve them. It does no I/O; the packages beside it do.
package engram

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
	"sync"
	"time"
)

// Project is the tenant boundary: every other row belongs to one.
type Project struct {
	ID        string      `json:"id"`
	Name      string      `json:"name"`
	Retention Retention   `json:"retention"` // see Retention; agents may have their own
	Auth      ProjectAuth `json:"auth"`      // ways in besides API keys (JWTs)
	CreatedAt int64       `json:"created_at"`
}

// Role says what an API key may do.
type Role string

const (
	RoleAdmin     Role = "admin"     // everything, including keys
	RoleDeveloper Role = "developer" // agents, conversations, responses
	RoleInvoker   Role = "invoker"   // responses and conversations only
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	return r == RoleAdmin || r == RoleDeveloper || r == RoleInvoker
}

// APIKey is a credential. Only a hash of the secret is stored; Prefix is
// the part shown to people so they can tell keys apart.
type APIKey struct {
	ID         string `json:"id"`
	ProjectID  string `json:"project_id"`
	Name       string `json:"name"`
	Prefix     string `json:"prefix"`
	Hash       string `json:"-"`
	Role       Role   `json:"role"`
	User       string `json:"user,omitempty"` // bound end user, if any
	CreatedAt  int64  `json:"created_at"`
	RevokedAt  int64  `json:"revoked_at,omitempty"`
	LastUsedAt int64  `json:"last_used_at,omitempty"`
}

// Page selects a page of a list ordered by creation. After and Before are
// ids (exclusive cursors); Order is "asc" or "desc".
type Page struct {
	After  string
	Before string
	Limit  int
	Order  string
}

// Desc reports whether the page runs newest first.
func (p Page) Desc() bool { return p.Order == "desc" }

// NewID returns a fresh id with the given prefix ("resp", "conv", "msg", …),
// shaped like OpenAI's: prefix, underscore, then 32 lower-case characters
// that sort by creation time (so ids double as stable page cursors).
//
// Within one process, ids made in the same millisecond still sort in the
// order they were made: the random part is then the previous one plus one,
// as monotonic ULIDs do.
func NewID(prefix string) string {
	var b [20]byte
	ms := uint64(time.Now().UnixMilli())
	idMu.Lock()
	if ms <= idLastMS {
		ms = idLastMS
		for i := len(idLast) - 1; i >= 0; i-- { // increment, carrying
			idLast[i]++
			if idLast[i] != 0 {
				break
			}
		}
	} else {
		idLastMS = ms
		_, _ = rand.Read(idLast[:])
		idLast[0] &= 0x7f // leave room to count up without wrapping
	}
	copy(b[6:], idLast[:])
	idMu.Unlock()
	for i := 5; i >= 0; i-- { // 48-bit big-endian milliseconds first
		b[i] = byte(ms)
		ms >>= 8
	}
	return prefix + "_" + strings.ToLower(idEncoding.EncodeToString(b[:]))
}

var (
	idMu     sync.Mutex
	idLastMS uint64
	idLast   [14]byte
)

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// Now is the domain's clock in Unix seconds, as OpenAI's created_at fields are.
func Now() int64 { return time.Now().Unix() }
