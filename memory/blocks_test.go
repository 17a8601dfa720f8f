package memory

import (
	"testing"

	"github.com/engram-run/engram"
)

func TestRenderBlocks(t *testing.T) {
	persona := &engram.MemoryBlock{Label: "persona", Description: `who you are, "exactly"`, Value: "I keep bees.", Limit: 2000}
	human := &engram.MemoryBlock{Label: "human", Value: "Name: Ada.\nHives: três.\n", Limit: 100}
	empty := &engram.MemoryBlock{Label: "notes", Limit: 500}
	policies := &engram.MemoryBlock{Label: "policies", Value: "Be kind.", Limit: 2000, ReadOnly: true}
	tests := []struct {
		name   string
		blocks []*engram.MemoryBlock
		want   string
	}{
		{"none", nil, ""},
		{"only missing", []*engram.MemoryBlock{nil}, ""},
		{"editable and read-only", []*engram.MemoryBlock{persona, human, empty, policies}, `<memory_blocks>
` + blockEditNote + `
<block label="persona" chars="12/2000" description="who you are, &quot;exactly&quot;">
I keep bees.
</block>
<block label="human" chars="24/100">
Name: Ada.
Hives: três.
</block>
<block label="notes" chars="0/500">
</block>
<block label="policies" chars="8/2000" read_only="true">
Be kind.
</block>
</memory_blocks>`},
		{"read-only only: no invitation to edit", []*engram.MemoryBlock{policies}, `<memory_blocks>
<block label="policies" chars="8/2000" read_only="true">
Be kind.
</block>
</memory_blocks>`},
	}
	for _, tt := range tests {
		if got := RenderBlocks(tt.blocks); got != tt.want {
			t.Errorf("%s:\n%s\nwant\n%s", tt.name, got, tt.want)
		}
	}
	// Equal blocks render the same bytes (a cacheable prefix), whichever
	// copies they are.
	copyOf := func(b *engram.MemoryBlock) *engram.MemoryBlock { c := *b; return &c }
	a := RenderBlocks([]*engram.MemoryBlock{persona, human, policies})
	b := RenderBlocks([]*engram.MemoryBlock{copyOf(persona), copyOf(human), copyOf(policies)})
	if a != b {
		t.Error("rendering depends on more than the blocks")
	}
}
