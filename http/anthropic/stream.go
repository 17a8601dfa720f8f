package anthropic

import (
	"encoding/json"
	"sort"
	"sync"

	"github.com/engram-run/engram"
)

// Stream turns a run's stream events (the Responses events the runtime
// emits and stores) into Anthropic's message stream as they arrive:
// message_start and a ping, then for each block content_block_start,
// content_block_delta and content_block_stop, then message_delta (stop
// reason and usage) and message_stop; a run that fails ends with an error
// event.
//
// Text streams live. A tool call is held until the run shows whose it is:
// Engram makes the calls of its own tools (builtin, http) inside the turn,
// and those never reach the client; the calls left for the client are
// sent, with the deltas the model streamed, when the run stops for them.
//
// A Stream is safe for concurrent use, so that a keep-alive Ping may
// interleave with events.
type Stream struct {
	mu      sync.Mutex
	send    func(event string, data []byte) error
	started bool
	ended   bool
	next    int            // the index of the next content block
	open    map[string]int // text blocks open: item id and content index → block index
	calls   []*heldCall
	err     error // the first write that failed; later writes are skipped
}

type heldCall struct {
	itemID, callID, name string
	deltas               []string
	args                 string
}

// NewStream returns a Stream that writes each event with send, as
// "event: NAME\ndata: JSON\n\n".
func NewStream(send func(event string, data []byte) error) *Stream {
	return &Stream{send: send, open: map[string]int{}}
}

// Started reports whether message_start has been written.
func (s *Stream) Started() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started
}

// Ended reports whether the stream has been finished (message_stop or an
// error event).
func (s *Stream) Ended() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

// Err is the first write that failed, if any.
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *Stream) write(event string, v any) {
	if s.err != nil {
		return
	}
	data, _ := json.Marshal(v)
	s.err = s.send(event, data)
}

// wire shapes of the stream, in Anthropic's field order.
type (
	startEvent struct {
		Type    string  `json:"type"`
		Message Message `json:"message"`
	}
	typeOnly struct {
		Type string `json:"type"`
	}
	blockStart struct {
		Type         string `json:"type"`
		Index        int    `json:"index"`
		ContentBlock Block  `json:"content_block"`
	}
	blockDelta struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
		Delta delta  `json:"delta"`
	}
	delta struct {
		Type        string  `json:"type"`
		Text        *string `json:"text,omitempty"`
		PartialJSON *string `json:"partial_json,omitempty"`
	}
	blockStop struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
	}
	messageDelta struct {
		Type  string `json:"type"`
		Delta struct {
			StopReason   string  `json:"stop_reason"`
			StopSequence *string `json:"stop_sequence"`
		} `json:"delta"`
		Usage Usage `json:"usage"`
	}
	errorEvent struct {
		Type  string      `json:"type"`
		Error ErrorObject `json:"error"`
	}
)

// inEvent is what the stream reads of a Responses stream event.
type inEvent struct {
	Type         string      `json:"type"`
	Response     *inResponse `json:"response"`
	ContentIndex int         `json:"content_index"`
	ItemID       string      `json:"item_id"`
	Item         *struct {
		ID        string `json:"id"`
		Type      string `json:"type"`
		CallID    string `json:"call_id"`
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"item"`
	Part *struct {
		Type string `json:"type"`
	} `json:"part"`
	Delta     string `json:"delta"`
	Arguments string `json:"arguments"`
}

type inResponse struct {
	ID                string `json:"id"`
	Model             string `json:"model"`
	Status            string `json:"status"`
	IncompleteDetails *struct {
		Reason string `json:"reason"`
	} `json:"incomplete_details"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Usage *struct {
		InputTokens        int `json:"input_tokens"`
		InputTokensDetails struct {
			CachedTokens int `json:"cached_tokens"`
		} `json:"input_tokens_details"`
		OutputTokens int `json:"output_tokens"`
	} `json:"usage"`
}

func partKey(itemID string, content int) string {
	b, _ := json.Marshal([]any{itemID, content})
	return string(b)
}

// Event translates one of the run's stream events, writing what it makes
// of it. It returns the first write error.
func (s *Stream) Event(se engram.StoredEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || s.err != nil {
		return s.err
	}
	var ev inEvent
	if err := json.Unmarshal(se.Data, &ev); err != nil {
		return nil // not an event this stream knows how to read
	}
	switch ev.Type {
	case engram.EventResponseCreated:
		if s.started || ev.Response == nil {
			break
		}
		s.started = true
		s.write("message_start", startEvent{Type: "message_start", Message: Message{
			ID: MessageID(ev.Response.ID), Type: "message", Role: "assistant", Model: ev.Response.Model, Content: []Block{}}})
		s.write("ping", typeOnly{Type: "ping"})
	case engram.EventContentPartAdded:
		if ev.Part == nil || (ev.Part.Type != engram.ContentOutputText && ev.Part.Type != engram.ContentRefusal) {
			break
		}
		i := s.next
		s.next++
		s.open[partKey(ev.ItemID, ev.ContentIndex)] = i
		empty := ""
		s.write("content_block_start", blockStart{Type: "content_block_start", Index: i, ContentBlock: Block{Type: "text", Text: &empty}})
	case engram.EventOutputTextDelta, engram.EventRefusalDelta:
		if i, ok := s.open[partKey(ev.ItemID, ev.ContentIndex)]; ok && ev.Delta != "" {
			d := ev.Delta
			s.write("content_block_delta", blockDelta{Type: "content_block_delta", Index: i, Delta: delta{Type: "text_delta", Text: &d}})
		}
	case engram.EventContentPartDone:
		key := partKey(ev.ItemID, ev.ContentIndex)
		if i, ok := s.open[key]; ok {
			delete(s.open, key)
			s.write("content_block_stop", blockStop{Type: "content_block_stop", Index: i})
		}
	case engram.EventOutputItemAdded:
		if ev.Item == nil {
			break
		}
		switch ev.Item.Type {
		case engram.ItemFunctionCall:
			s.calls = append(s.calls, &heldCall{itemID: ev.Item.ID, callID: ev.Item.CallID, name: ev.Item.Name})
		case engram.ItemFunctionCallOutput:
			// Engram answered the call itself: it was never the client's.
			for i, c := range s.calls {
				if c.callID == ev.Item.CallID {
					s.calls = append(s.calls[:i], s.calls[i+1:]...)
					break
				}
			}
		}
	case engram.EventFunctionCallArgsDelta:
		if c := s.call(ev.ItemID); c != nil && ev.Delta != "" {
			c.deltas = append(c.deltas, ev.Delta)
		}
	case engram.EventFunctionCallArgsDone:
		if c := s.call(ev.ItemID); c != nil {
			c.args = ev.Arguments
		}
	case engram.EventOutputItemDone:
		if ev.Item != nil && ev.Item.Type == engram.ItemFunctionCall {
			if c := s.call(ev.Item.ID); c != nil && c.args == "" {
				c.args = ev.Item.Arguments
			}
		}
	case engram.EventResponseCompleted, engram.EventResponseIncomplete,
		engram.EventResponseRequiresAction, engram.EventResponseCancelled:
		if ev.Response != nil {
			s.finish(ev.Response)
		}
	case engram.EventResponseFailed:
		typ, msg := "api_error", "The run failed."
		if r := ev.Response; r != nil && r.Error != nil {
			typ, msg = ErrorType(FailureStatus(r.Error.Code)), r.Error.Message
		}
		s.fail(typ, msg)
	}
	return s.err
}

func (s *Stream) call(itemID string) *heldCall {
	for _, c := range s.calls {
		if c.itemID == itemID {
			return c
		}
	}
	return nil
}

// finish closes open text blocks, sends the client's tool calls when the
// run completed, and ends the message.
func (s *Stream) finish(r *inResponse) {
	open := make([]int, 0, len(s.open))
	for _, i := range s.open {
		open = append(open, i)
	}
	sort.Ints(open)
	for _, i := range open {
		s.write("content_block_stop", blockStop{Type: "content_block_stop", Index: i})
	}
	clear(s.open)
	toolUse := false
	if r.Status == engram.StatusCompleted {
		for _, c := range s.calls {
			toolUse = true
			i := s.next
			s.next++
			s.write("content_block_start", blockStart{Type: "content_block_start", Index: i,
				ContentBlock: Block{Type: "tool_use", ID: c.callID, Name: c.name, Input: json.RawMessage(`{}`)}})
			deltas := c.deltas
			if len(deltas) == 0 && c.args != "" && c.args != "{}" {
				deltas = []string{c.args}
			}
			for _, d := range deltas {
				s.write("content_block_delta", blockDelta{Type: "content_block_delta", Index: i, Delta: delta{Type: "input_json_delta", PartialJSON: &d}})
			}
			s.write("content_block_stop", blockStop{Type: "content_block_stop", Index: i})
		}
	}
	s.calls = nil
	reason := ""
	if r.IncompleteDetails != nil {
		reason = r.IncompleteDetails.Reason
	}
	var md messageDelta
	md.Type = "message_delta"
	md.Delta.StopReason = StopReason(r.Status, reason, toolUse)
	if u := r.Usage; u != nil {
		md.Usage = EncodeUsage(&engram.Usage{InputTokens: u.InputTokens, CachedTokens: u.InputTokensDetails.CachedTokens, OutputTokens: u.OutputTokens})
	}
	s.write("message_delta", md)
	s.write("message_stop", typeOnly{Type: "message_stop"})
	s.ended = true
}

func (s *Stream) fail(typ, msg string) {
	s.write("error", errorEvent{Type: "error", Error: ErrorObject{Type: typ, Message: msg}})
	s.ended = true
}

// Fail ends the stream with an error event, unless it has ended.
func (s *Stream) Fail(typ, msg string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		s.fail(typ, msg)
	}
	return s.err
}

// Ping writes a ping event, as Anthropic sends to keep a quiet stream
// alive; nothing before message_start or after the end.
func (s *Stream) Ping() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started && !s.ended {
		s.write("ping", typeOnly{Type: "ping"})
	}
	return s.err
}
