package runtime

import "github.com/engram-run/engram"

// streamState turns one model call's events into the response's stream
// events, in OpenAI's order: output_item.added, content_part.added, deltas,
// *.done, content_part.done, output_item.done.
type streamState struct {
	x     *run
	base  int            // output index of the call's first item
	ids   map[int]string // item ids by the call's item index
	added map[int]bool   // items whose output_item.added was emitted
	open  map[int]string // content part type open per item index
	// hold keeps text and refusal deltas back: finishItem streams each
	// part's final (filtered) text as one delta.
	hold bool
}

func (s *streamState) id(i int, itemType string) string {
	if id, ok := s.ids[i]; ok {
		return id
	}
	id := engram.NewID(engram.ItemIDPrefix(itemType))
	s.ids[i] = id
	return id
}

func (s *streamState) onEvent(ev engram.ModelEvent) {
	if s.open == nil {
		s.open, s.added = map[int]string{}, map[int]bool{}
	}
	idx := s.base + ev.Index
	emit := s.x.emit
	switch ev.Type {
	case engram.ModelItemAdded:
		it := *ev.Item
		it.ID = s.id(ev.Index, it.Type)
		it.Status = engram.StatusInProgress
		it.Content, it.Arguments = nil, ""
		s.added[ev.Index] = true
		emit(engram.StreamEvent{Type: engram.EventOutputItemAdded, OutputIndex: idx, Item: &it})
	case engram.ModelTextDelta, engram.ModelRefusalDelta:
		if s.hold {
			return
		}
		part := engram.ContentOutputText
		deltaType := engram.EventOutputTextDelta
		if ev.Type == engram.ModelRefusalDelta {
			part, deltaType = engram.ContentRefusal, engram.EventRefusalDelta
		}
		if s.open[ev.Index] == "" {
			s.open[ev.Index] = part
			emit(engram.StreamEvent{Type: engram.EventContentPartAdded, OutputIndex: idx, Item: s.ref(ev.Index, engram.ItemMessage),
				Part: &engram.Content{Type: part}})
		}
		emit(engram.StreamEvent{Type: deltaType, OutputIndex: idx, Item: s.ref(ev.Index, engram.ItemMessage), Delta: ev.Delta})
	case engram.ModelArgumentsDelta:
		emit(engram.StreamEvent{Type: engram.EventFunctionCallArgsDelta, OutputIndex: idx, Item: s.ref(ev.Index, engram.ItemFunctionCall), Delta: ev.Delta})
	case engram.ModelReasoningDelta:
		if s.open[ev.Index] == "" {
			s.open[ev.Index] = engram.ContentSummaryText
			emit(engram.StreamEvent{Type: engram.EventReasoningSummaryPartAdded, OutputIndex: idx, Item: s.ref(ev.Index, engram.ItemReasoning),
				Part: &engram.Content{Type: engram.ContentSummaryText}})
		}
		emit(engram.StreamEvent{Type: engram.EventReasoningSummaryDelta, OutputIndex: idx, Item: s.ref(ev.Index, engram.ItemReasoning), Delta: ev.Delta})
	}
	// ModelItemDone is handled by finishItem once ids are settled.
}

// ref is a stand-in item carrying the id that delta events name.
func (s *streamState) ref(i int, itemType string) *engram.Item {
	return &engram.Item{ID: s.id(i, itemType), Type: itemType}
}

// finishItem emits the closing events of item i of the call.
func (s *streamState) finishItem(i int, it *engram.Item) {
	idx := s.base + i
	emit := s.x.emit
	if !s.added[i] {
		// The provider streamed nothing for this item: open it now.
		it.ID = s.id(i, it.Type)
		added := *it
		added.Status, added.Content, added.Arguments = engram.StatusInProgress, nil, ""
		emit(engram.StreamEvent{Type: engram.EventOutputItemAdded, OutputIndex: idx, Item: &added})
	}
	opened := s.open[i]
	switch it.Type {
	case engram.ItemMessage:
		for ci := range it.Content {
			part := it.Content[ci]
			if !(ci == 0 && opened == part.Type) {
				emit(engram.StreamEvent{Type: engram.EventContentPartAdded, OutputIndex: idx, ContentIndex: ci, Item: it, Part: &engram.Content{Type: part.Type}})
			}
			if s.hold {
				switch {
				case part.Type == engram.ContentOutputText && part.Text != "":
					emit(engram.StreamEvent{Type: engram.EventOutputTextDelta, OutputIndex: idx, ContentIndex: ci, Item: it, Delta: part.Text})
				case part.Type == engram.ContentRefusal && part.Refusal != "":
					emit(engram.StreamEvent{Type: engram.EventRefusalDelta, OutputIndex: idx, ContentIndex: ci, Item: it, Delta: part.Refusal})
				}
			}
			switch part.Type {
			case engram.ContentOutputText:
				emit(engram.StreamEvent{Type: engram.EventOutputTextDone, OutputIndex: idx, ContentIndex: ci, Item: it, Text: part.Text})
			case engram.ContentRefusal:
				emit(engram.StreamEvent{Type: engram.EventRefusalDone, OutputIndex: idx, ContentIndex: ci, Item: it, Text: part.Refusal})
			}
			emit(engram.StreamEvent{Type: engram.EventContentPartDone, OutputIndex: idx, ContentIndex: ci, Item: it, Part: &part})
		}
	case engram.ItemFunctionCall:
		emit(engram.StreamEvent{Type: engram.EventFunctionCallArgsDone, OutputIndex: idx, Item: it, Arguments: it.Arguments})
	case engram.ItemReasoning:
		for si := range it.Summary {
			part := it.Summary[si]
			if !(si == 0 && opened == engram.ContentSummaryText) {
				emit(engram.StreamEvent{Type: engram.EventReasoningSummaryPartAdded, OutputIndex: idx, ContentIndex: si, Item: it, Part: &engram.Content{Type: part.Type}})
			}
			emit(engram.StreamEvent{Type: engram.EventReasoningSummaryDone, OutputIndex: idx, ContentIndex: si, Item: it, Text: part.Text})
			emit(engram.StreamEvent{Type: engram.EventReasoningSummaryPartDone, OutputIndex: idx, ContentIndex: si, Item: it, Part: &part})
		}
	}
	emit(engram.StreamEvent{Type: engram.EventOutputItemDone, OutputIndex: idx, Item: it})
}
