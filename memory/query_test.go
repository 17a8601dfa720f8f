package memory

import (
	"reflect"
	"strings"
	"testing"
)

func TestTerms(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string
	}{
		{"plain", "Where are the hives?", []string{"hives"}},
		{"case and punctuation", "Ada's HIVES, in Lisbon!", []string{"ada", "hives", "lisbon"}},
		{"numbers kept", "Is hive 2 queenless since 2024-05-01?", []string{"hive", "2", "queenless", "since", "2024", "05", "01"}},
		{"one-letter words dropped", "x y z bees", []string{"bees"}},
		{"dedupe", "bees Bees BEES honey bees", []string{"bees", "honey"}},
		{"unicode letters", "Café in São Paulo, Ärger über Müller", []string{"café", "são", "paulo", "ärger", "über", "müller"}},
		{"combining marks inside words", "हिन्दी भाषा", []string{"हिन्दी", "भाषा"}},
		{"scripts without spaces", "東京の天気", []string{"東京の天気"}},
		{"asking words", "Do you remember what I told you about the honey?", []string{"honey"}},
		{"question words", "How many hives do I have now?", []string{"hives"}},
		{"the user's own words kept", "Where did my partner and I end up moving? We loved it.", []string{"my", "partner", "end", "moving", "we", "loved"}},
		{"irregular verbs in every form", "Which cities did I run races in? What car am I driving?", []string{"cities", "run", "races", "car", "driving", "ran", "drive", "driven", "drove"}},
		{"stopwords only fall back", "What was it?", []string{"what", "was", "it"}},
		{"empty", "", nil},
		{"punctuation only", "?!… --", nil},
		{"operators are words", `bees AND "honey" OR NEAR(x) -wax*`, []string{"bees", "honey", "near", "wax"}},
	}
	for _, tt := range tests {
		if got := Terms(tt.text); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Terms(%q) = %q, want %q", tt.name, tt.text, got, tt.want)
		}
	}
}

func TestTermsCapped(t *testing.T) {
	var words []string
	for i := range 100 {
		words = append(words, "word"+strings.Repeat("x", i))
	}
	if got := Terms(strings.Join(words, " ")); len(got) != maxTerms || got[0] != "word" {
		t.Errorf("got %d terms starting %q, want %d starting \"word\"", len(got), got[0], maxTerms)
	}
	if got := Terms(strings.Repeat("the of and ", 50) + strings.Repeat("a b c d e f g h i j k l m n o p q r s t u v w x y z ", 3)); len(got) > maxTerms {
		t.Errorf("fallback gave %d terms, want at most %d", len(got), maxTerms)
	}
}

func FuzzTerms(f *testing.F) {
	f.Add("Where are Ada's hives?")
	f.Add("\xff\xfe bees")
	f.Fuzz(func(t *testing.T, text string) {
		terms := Terms(text)
		if len(terms) > maxTerms {
			t.Fatalf("%d terms", len(terms))
		}
		for _, term := range terms {
			if term == "" || strings.ToLower(term) != term {
				t.Fatalf("term %q", term)
			}
			for _, r := range term {
				if !isWordRune(r) {
					t.Fatalf("term %q has %q", term, r)
				}
			}
		}
	})
}
