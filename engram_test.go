package engram

import (
	"strings"
	"testing"
)

func TestNewIDSortsByCreation(t *testing.T) {
	prev := NewID("conv")
	for i := 0; i < 10000; i++ {
		id := NewID("conv")
		if id <= prev {
			t.Fatalf("id %d: %s does not sort after %s", i, id, prev)
		}
		if !strings.HasPrefix(id, "conv_") || len(id) != len("conv_")+32 {
			t.Fatalf("id %q is not prefix_ + 32 characters", id)
		}
		prev = id
	}
}

func TestKeys(t *testing.T) {
	secret, shown := NewKeySecret()
	if !strings.HasPrefix(secret, KeyPrefix) || !strings.HasPrefix(secret, shown) || len(shown) >= len(secret) {
		t.Fatalf("secret %q shown %q", secret, shown)
	}
	other, _ := NewKeySecret()
	again := HashKey(secret)
	if HashKey(secret) == HashKey(other) || again != HashKey(secret) || strings.Contains(again, secret) {
		t.Fatal("HashKey must be deterministic, distinct per key, and not contain the secret")
	}
}
