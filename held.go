package engram

import "encoding/json"

// heldItem is an input item of a queued run, kept with the run until it
// starts; its token count travels with it (Item's JSON form leaves it out).
type heldItem struct {
	Item
	HeldTokens int `json:"_tokens"`
}

// EncodeHeldInput is how a store keeps a queued run's input until the run
// starts. Every store keeps the same bytes, so engram migrate copies them
// as they are.
func EncodeHeldInput(items []*Item) ([]byte, error) {
	held := make([]heldItem, len(items))
	for i, it := range items {
		held[i] = heldItem{Item: *it, HeldTokens: it.Tokens}
	}
	return json.Marshal(held)
}

// DecodeHeldInput reads what EncodeHeldInput wrote; empty is no input.
func DecodeHeldInput(data string) ([]*Item, error) {
	if data == "" {
		return nil, nil
	}
	var held []heldItem
	if err := json.Unmarshal([]byte(data), &held); err != nil {
		return nil, err
	}
	items := make([]*Item, len(held))
	for i := range held {
		it := held[i].Item
		it.Tokens = held[i].HeldTokens
		items[i] = &it
	}
	return items, nil
}
