package memory

import (
	"slices"
	"strings"
)

// irregularVerbs lists English verbs whose past forms no suffix-stripping
// stemmer (the index's Porter stemmer included) relates to their base:
// "ran" is not "run", "bought" not "buy". Each line is base, past,
// participle. A query naming one form of such a verb also searches the
// others, as a lemmatising index would find them. Verbs whose forms are
// also common words of other meanings (lie and lay, light, wind and
// wound, grind and ground, rise and rose, bear and born) are left out:
// they would find more unrelated records than related ones.
var irregularVerbs = `
awake awoke awoken|beat beat beaten|become became become|begin began begun
bend bent bent|bet bet bet|bind bound bound|bite bit bitten|bleed bled bled|blow blew blown|break broke broken
breed bred bred|bring brought brought|build built built|burn burnt burnt|buy bought bought|catch caught caught
choose chose chosen|cling clung clung|come came come|cost cost cost|creep crept crept|deal dealt dealt|dig dug dug
draw drew drawn|dream dreamt dreamt|drink drank drunk|drive drove driven|eat ate eaten|fall fell fallen
feed fed fed|feel felt felt|fight fought fought|find found found|flee fled fled|fly flew flown|forbid forbade forbidden
forget forgot forgotten|forgive forgave forgiven|freeze froze frozen|get got gotten|give gave given|go went gone
grow grew grown|hang hung hung|hear heard heard|hide hid hidden|hit hit hit|hold held held
hurt hurt hurt|keep kept kept|kneel knelt knelt|know knew known|lead led led|lean leant leant
leap leapt leapt|learn learnt learnt|leave left left|lend lent lent|lose lost lost
make made made|mean meant meant|meet met met|pay paid paid|quit quit quit|read read read
ride rode ridden|ring rang rung|run ran run|say said said|see saw seen|seek sought sought
sell sold sold|send sent sent|set set set|shake shook shaken|shine shone shone|shoot shot shot
shrink shrank shrunk|shut shut shut|sing sang sung|sink sank sunk|sit sat sat|sleep slept slept
slide slid slid|speak spoke spoken|speed sped sped|spend spent spent|spin spun spun|split split split
spread spread spread|stand stood stood|steal stole stolen|stick stuck stuck|sting stung stung
stink stank stunk|strike struck struck|swear swore sworn|sweep swept swept|swim swam swum|swing swung swung
take took taken|teach taught taught|tear tore torn|tell told told|think thought thought|throw threw thrown
understand understood understood|wake woke woken|wear wore worn|weep wept wept|win won won|
withdraw withdrew withdrawn|write wrote written`

// verbForms maps each form of an irregular verb, and the -s and -ing
// forms of its base, to its base and past forms.
var verbForms = func() map[string][]string {
	m := map[string][]string{}
	for _, line := range strings.FieldsFunc(irregularVerbs, func(r rune) bool { return r == '|' || r == '\n' }) {
		forms := strings.Fields(line)
		if len(forms) != 3 {
			panic("memory: malformed irregular verb " + line)
		}
		base := forms[0]
		slices.Sort(forms)
		all := slices.Compact(forms)
		for _, f := range append(slices.Clone(all), inflections(base)...) {
			if _, ok := m[f]; !ok {
				m[f] = all
			}
		}
	}
	return m
}()

// inflections returns the -s and -ing forms of a base, with spellings to
// spare where English doubles a final consonant only when stressed
// ("running", "visiting"): they are only looked up, never searched.
func inflections(base string) []string {
	n := len(base)
	out := []string{base + "s", base + "es", base + "ing"}
	if strings.HasSuffix(base, "e") && !strings.HasSuffix(base, "ee") {
		out = append(out, base[:n-1]+"ing")
	}
	if n >= 3 && isConsonant(base[n-1]) && isVowel(base[n-2]) && isConsonant(base[n-3]) && !strings.ContainsRune("wxy", rune(base[n-1])) {
		out = append(out, base+base[n-1:]+"ing")
	}
	return out
}

func isVowel(b byte) bool     { return strings.IndexByte("aeiou", b) >= 0 }
func isConsonant(b byte) bool { return b >= 'a' && b <= 'z' && !isVowel(b) }
