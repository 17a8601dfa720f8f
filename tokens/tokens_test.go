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

// FuzzASCII: the hand-written ASCII path counts exactly what tiktoken-go
// counts.
func FuzzASCII(f *testing.F) {
	for _, s := range []string{
		"Hello, world!", "don't STOP'S we'll I'M", "  leading and trailing  ", "a\n\n b\r\n\tc", "12345 678 9",
		"HTTPServer aB ABC", "path/to/file.go\n/", "x  \n  y", " !!!\n//", "\x00\x01 \x7f", "'s 't", "Mc'Donald", " \v\f",
		`{"hive": 2, "weight_kg": 31.5}`, "e.g. 3.14159 — x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !isASCII(s) {
			return
		}
		want := len(load().EncodeOrdinary(s))
		if got := countASCII(s); got != want {
			t.Fatalf("countASCII(%q) = %d, tiktoken counts %d", s, got, want)
		}
	})
}

func BenchmarkCountParagraph(b *testing.B) {
	s := strings.Repeat("The colony was calm after we added a super; check brood frames for eggs. ", 6)
	Warm()
	for b.Loop() {
		Count(s)
	}
}
