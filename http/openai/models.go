package openai

// Model is OpenAI's model object.
type Model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// NewModel returns a model object. created is 0 when nobody said when the
// model was made (a provider's listing rarely does).
func NewModel(id string, created int64, ownedBy string) Model {
	return Model{ID: id, Object: "model", Created: created, OwnedBy: ownedBy}
}

// ModelList is OpenAI's ListModelsResponse: one page, no cursors.
type ModelList struct {
	Object string  `json:"object"`
	Data   []Model `json:"data"`
}
