package tokens

import (
	"strings"
	"testing"

	"github.com/engram-run/engram"
)

func TestCount(t *testing.T) {
	tests := []struct {
		text string
		want int
	}{
		{"", 0},
		{"hello", 1},
		{"Hello, world!", 4},
	}
	for _, tt := range tests {
		if got := Count(tt.text); got != tt.want {
			t.Errorf("Count(%q) = %d, want %d", tt.text, got, tt.want)
		}
	}
	long := strings.Repeat("the quick brown fox ", 100)
	if n := Count(long); n < 300 || n > 500 {
		t.Errorf("Count(400 words) = %d, want between 300 and 500", n)
	}
}

func TestItem(t *testing.T) {
	msg := &engram.Item{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputText, Text: "hello"}}}
	if got := Item(msg); got != 1+itemOverhead {
		t.Errorf("Item(message hello) = %d, want %d", got, 1+itemOverhead)
	}
	img := &engram.Item{Type: engram.ItemMessage, Role: "user", Content: []engram.Content{{Type: engram.ContentInputImage, ImageURL: "https://x/y.png"}}}
	if got := Item(img); got <= itemOverhead {
		t.Errorf("Item(image) = %d, want more than the overhead", got)
	}
}

func BenchmarkCount(b *testing.B) {
	s := "Hive 2 is queenless; what should I do before the nectar flow starts next week?"
	Warm()
	for b.Loop() {
		Count(s)
	}
}
