package openai

import (
	"encoding/json"

	"github.com/engram-run/engram"
)

// event is the union of the Responses stream event shapes; each event type
// fills the fields its schema requires, and those are always sent.
type event struct {
	Type           string             `json:"type"`
	SequenceNumber int                `json:"sequence_number"`
	Response       *Response          `json:"response,omitempty"`
	OutputIndex    *int               `json:"output_index,omitempty"`
	ContentIndex   *int               `json:"content_index,omitempty"`
	SummaryIndex   *int               `json:"summary_index,omitempty"`
	ItemID         string             `json:"item_id,omitempty"`
	Item           *Item              `json:"item,omitempty"`
	Part           *Part              `json:"part,omitempty"`
	Name           string             `json:"name,omitempty"`
	Delta          *string            `json:"delta,omitempty"`
	Text           *string            `json:"text,omitempty"`
	Refusal        *string            `json:"refusal,omitempty"`
	Arguments      *string            `json:"arguments,omitempty"`
	Logprobs       *[]json.RawMessage `json:"logprobs,omitempty"`
}

// EncodeEvent returns the JSON of a stream event numbered seq.
func EncodeEvent(seq int, ev engram.StreamEvent) []byte {
	e := event{Type: ev.Type, SequenceNumber: seq}
	idx, cidx := ev.OutputIndex, ev.ContentIndex
	itemID := ""
	if ev.Item != nil {
		itemID = ev.Item.ID
	}
	noLogprobs := &[]json.RawMessage{}
	switch ev.Type {
	case engram.EventResponseCreated, engram.EventResponseInProgress, engram.EventResponseCompleted,
		engram.EventResponseFailed, engram.EventResponseIncomplete,
		engram.EventResponseRequiresAction, engram.EventResponseCancelled:
		e.Response = EncodeResponse(ev.Response)
	case engram.EventOutputItemAdded, engram.EventOutputItemDone:
		it := EncodeItem(ev.Item)
		e.OutputIndex, e.Item = &idx, &it
	case engram.EventContentPartAdded, engram.EventContentPartDone:
		p := EncodePart(*ev.Part)
		e.OutputIndex, e.ContentIndex, e.ItemID, e.Part = &idx, &cidx, itemID, &p
	case engram.EventOutputTextDelta:
		e.OutputIndex, e.ContentIndex, e.ItemID, e.Delta, e.Logprobs = &idx, &cidx, itemID, str(ev.Delta), noLogprobs
	case engram.EventOutputTextDone:
		e.OutputIndex, e.ContentIndex, e.ItemID, e.Text, e.Logprobs = &idx, &cidx, itemID, str(ev.Text), noLogprobs
	case engram.EventRefusalDelta:
		e.OutputIndex, e.ContentIndex, e.ItemID, e.Delta = &idx, &cidx, itemID, str(ev.Delta)
	case engram.EventRefusalDone:
		e.OutputIndex, e.ContentIndex, e.ItemID, e.Refusal = &idx, &cidx, itemID, str(ev.Text)
	case engram.EventFunctionCallArgsDelta:
		e.OutputIndex, e.ItemID, e.Delta = &idx, itemID, str(ev.Delta)
	case engram.EventFunctionCallArgsDone:
		e.OutputIndex, e.ItemID, e.Arguments = &idx, itemID, str(ev.Arguments)
		if ev.Item != nil {
			e.Name = ev.Item.Name
		}
	case engram.EventReasoningSummaryPartAdded, engram.EventReasoningSummaryPartDone:
		p := EncodePart(*ev.Part)
		e.OutputIndex, e.SummaryIndex, e.ItemID, e.Part = &idx, &cidx, itemID, &p
	case engram.EventReasoningSummaryDelta:
		e.OutputIndex, e.SummaryIndex, e.ItemID, e.Delta = &idx, &cidx, itemID, str(ev.Delta)
	case engram.EventReasoningSummaryDone:
		e.OutputIndex, e.SummaryIndex, e.ItemID, e.Text = &idx, &cidx, itemID, str(ev.Text)
	}
	data, _ := json.Marshal(e)
	return data
}
