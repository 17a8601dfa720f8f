// Package secrets seals connectors' credentials at rest with AES-256-GCM
// under a master key, opens them for the tools that use them, and re-seals
// them under a new key (rotation). The master key never enters the store:
// it comes from ENGRAM_MASTER_KEY or a 0600 key file in the data directory.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/engram-run/engram"
)

// KeySize is the size of a master key: AES-256.
const KeySize = 32

// Box seals and opens credentials: new ones under its current key, old ones
// under any key of its ring (the current one and the previous ones kept
// for reading until a rotation has re-sealed everything).
type Box struct {
	current string
	aeads   map[string]cipher.AEAD
}

// KeyID names a key without revealing it: the first 8 bytes of its SHA-256,
// in hex. Stored next to each sealed credential, it says which key opens it.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:8])
}

// NewBox returns a box sealing under current and opening under current and
// every previous key.
func NewBox(current []byte, previous ...[]byte) (*Box, error) {
	b := &Box{aeads: map[string]cipher.AEAD{}}
	for i, key := range append([][]byte{current}, previous...) {
		if len(key) != KeySize {
			return nil, fmt.Errorf("a master key must be %d bytes, got %d", KeySize, len(key))
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		id := KeyID(key)
		if i == 0 {
			b.current = id
		}
		if _, dup := b.aeads[id]; !dup {
			b.aeads[id] = aead
		}
	}
	return b, nil
}

// KeyID is the id of the key new credentials are sealed under.
func (b *Box) KeyID() string { return b.current }

// Knows reports whether the box can open what keyID sealed.
func (b *Box) Knows(keyID string) bool { _, ok := b.aeads[keyID]; return ok }

// additionalData binds a sealed credential to its place: a blob copied onto
// another connector or another user's row does not open.
func additionalData(projectID, connectorID, user string) []byte {
	// NUL separates the parts: no id or user name holds one, so two places
	// never make the same bytes.
	return []byte("engram-credential\x00" + projectID + "\x00" + connectorID + "\x00" + user)
}

// Seal encrypts s for the connector's credential of user ("" for the shared
// one) under the current key: a fresh 12-byte random nonce, then the
// ciphertext with its tag.
func (b *Box) Seal(projectID, connectorID, user string, s engram.Secret) (*engram.Credential, error) {
	plain, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	aead := b.aeads[b.current]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	sealed := aead.Seal(nonce, nonce, plain, additionalData(projectID, connectorID, user))
	clear(plain)
	return &engram.Credential{ProjectID: projectID, ConnectorID: connectorID, User: user, KeyID: b.current,
		Sealed: sealed, UpdatedAt: engram.Now()}, nil
}

// Open decrypts a credential. A credential under a key the box does not
// hold, or one altered or moved to another connector or user, is an error
// that never shows the secret.
func (b *Box) Open(c *engram.Credential) (engram.Secret, error) {
	var s engram.Secret
	aead, ok := b.aeads[c.KeyID]
	if !ok {
		return s, engram.Errorf(engram.EInternal, "the credential of connector %s is sealed under master key %s, which this server does not have (set it in ENGRAM_MASTER_KEY_PREVIOUS)", c.ConnectorID, c.KeyID)
	}
	if len(c.Sealed) < aead.NonceSize()+aead.Overhead() {
		return s, engram.Errorf(engram.EInternal, "the credential of connector %s is damaged", c.ConnectorID)
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, c.Sealed[:n], c.Sealed[n:], additionalData(c.ProjectID, c.ConnectorID, c.User))
	if err != nil {
		return s, engram.Errorf(engram.EInternal, "the credential of connector %s does not open under master key %s: altered, or not sealed for this connector and user", c.ConnectorID, c.KeyID)
	}
	defer clear(plain)
	if err := json.Unmarshal(plain, &s); err != nil {
		return s, engram.Errorf(engram.EInternal, "the credential of connector %s is not a secret", c.ConnectorID)
	}
	return s, nil
}
