package longmem

// File is one committed data file.
type File struct {
	Name string
	Data []byte
}

// Files renders every committed data file, for the generator command and
// for the test that checks the committed copies are current.
func Files() ([]File, error) {
	var out []File
	for _, cfg := range []Config{Small, Medium} {
		data, err := Generate(cfg).Marshal()
		if err != nil {
			return nil, err
		}
		out = append(out, File{cfg.Name + ".json", data})
	}
	data, err := GenerateConversation(Economy.Seed, Economy.Turns, Economy.Facts).Marshal()
	if err != nil {
		return nil, err
	}
	return append(out, File{"economy.json", data}), nil
}

// Economy is the committed token-economy conversation: 300 exchanges, 15
// facts.
var Economy = struct {
	Seed         uint64
	Turns, Facts int
}{3, 300, 15}
