package secrets

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeyFileName is the master key's file in the data directory, made on the
// first start when ENGRAM_MASTER_KEY is not set.
const KeyFileName = "master.key"

// ParseKey reads a master key written in base64 (standard or URL, padded or
// not) or hex: 32 bytes either way.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*KeySize {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("the key is %d bytes, want %d (generate one with: openssl rand -base64 32)", len(b), KeySize)
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("want %d bytes in base64 or hex (generate one with: openssl rand -base64 32)", KeySize)
}

// LoadBox makes the server's box: the current key from ENGRAM_MASTER_KEY,
// else from dir/master.key (made, 0600, when absent; refused when group
// or others may read it), and the previous keys, still opened but never
// sealed under, from ENGRAM_MASTER_KEY_PREVIOUS (comma-separated). source
// says where the current key came from, for the log (never the key).
func LoadBox(getenv func(string) string, dir string) (box *Box, source string, err error) {
	var current []byte
	if v := getenv("ENGRAM_MASTER_KEY"); v != "" {
		if current, err = ParseKey(v); err != nil {
			return nil, "", fmt.Errorf("ENGRAM_MASTER_KEY: %w", err)
		}
		source = "ENGRAM_MASTER_KEY"
	} else {
		path := filepath.Join(dir, KeyFileName)
		if current, err = keyFile(path); err != nil {
			return nil, "", err
		}
		source = path
	}
	var previous [][]byte
	if v := getenv("ENGRAM_MASTER_KEY_PREVIOUS"); v != "" {
		for i, part := range strings.Split(v, ",") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			k, err := ParseKey(part)
			if err != nil {
				return nil, "", fmt.Errorf("ENGRAM_MASTER_KEY_PREVIOUS (key %d): %w", i+1, err)
			}
			previous = append(previous, k)
		}
	}
	box, err = NewBox(current, previous...)
	return box, source, err
}

// keyFile reads the key at path, or makes one there if there is none.
func keyFile(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return newKeyFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("master key %s may be read by others (mode %04o): run chmod 600 %s, or set ENGRAM_MASTER_KEY", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("master key %s: %w", path, err)
	}
	return k, nil
}

// newKeyFile writes a random key to path, refusing to replace one that
// another process made meanwhile (O_EXCL): two keys would each seal
// credentials the other cannot open.
func newKeyFile(path string) ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return keyFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("master key: %w", err)
	}
	return k, nil
}
