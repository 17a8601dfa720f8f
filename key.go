package engram

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
)

// KeyPrefix starts every Engram API key, so a leaked key is recognisable.
const KeyPrefix = "sk-engram-"

// NewKeySecret returns a new random API key secret and the prefix of it
// that is safe to show.
func NewKeySecret() (secret, shown string) {
	var b [24]byte
	_, _ = rand.Read(b[:])
	secret = KeyPrefix + hex.EncodeToString(b[:])
	return secret, secret[:len(KeyPrefix)+6]
}

// HashKey returns the stored form of a key secret. Secrets are 192 random
// bits, so a plain SHA-256 cannot be reversed by guessing and keeps the
// per-request check to one indexed lookup.
func HashKey(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}
