package http

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/http/openai"
)

// blockBody is the JSON of POST /v1/memory/blocks and POST
// /v1/memory/blocks/{id}: every field optional on update, where only the
// fields given change.
type blockBody struct {
	Label           *string          `json:"label"`
	Value           *string          `json:"value"`
	Description     *string          `json:"description"`
	Limit           *int             `json:"limit"`
	ReadOnly        *bool            `json:"read_only"`
	Metadata        *json.RawMessage `json:"metadata"`
	ExpectedVersion *int             `json:"expected_version"`
}

func (b *blockBody) apply(blk *engram.MemoryBlock) error {
	if b.Label != nil {
		blk.Label = *b.Label
	}
	if b.Value != nil {
		blk.Value = *b.Value
	}
	if b.Description != nil {
		blk.Description = *b.Description
	}
	if b.Limit != nil {
		if *b.Limit < 1 {
			return engram.ParamErrorf(engram.EInvalid, "limit", "Invalid 'limit': expected an integer between 1 and %d, but got %d.", engram.MaxBlockLimit, *b.Limit)
		}
		blk.Limit = *b.Limit
	}
	if b.ReadOnly != nil {
		blk.ReadOnly = *b.ReadOnly
	}
	if b.Metadata != nil {
		m, err := openai.DecodeMetadata(*b.Metadata)
		if err != nil {
			return err
		}
		blk.Metadata = m
	}
	// A version made through the API is the API's, whoever made the last.
	blk.EditedBy, blk.ConversationID, blk.ResponseID, blk.CallID = engram.EditedByAPI, "", "", ""
	return blk.Check()
}

// blockJSON is a block (or one of its versions) as the API shows it.
type blockJSON struct {
	Object string `json:"object"`
	*engram.MemoryBlock
}

func encodeBlock(b *engram.MemoryBlock) blockJSON {
	return blockJSON{Object: "memory.block", MemoryBlock: b}
}

func (s *Server) createBlock(w http.ResponseWriter, r *http.Request) {
	var body blockBody
	if err := s.decodeBody(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	if body.ExpectedVersion != nil {
		s.fail(w, r, engram.ParamErrorf(engram.EInvalid, "expected_version", "Unknown parameter: 'expected_version'. It applies to updates only."))
		return
	}
	b := &engram.MemoryBlock{ID: engram.NewID("blk"), ProjectID: keyOf(r).ProjectID, Metadata: map[string]string{}}
	err := body.apply(b)
	if err == nil {
		err = s.Store.CreateBlock(r.Context(), b)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, encodeBlock(b))
}

func (s *Server) getBlock(w http.ResponseWriter, r *http.Request) {
	b, err := s.Store.GetBlock(r.Context(), keyOf(r).ProjectID, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, encodeBlock(b))
}

func (s *Server) listBlocks(w http.ResponseWriter, r *http.Request) {
	p, err := page(r, "asc")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	list, more, err := s.Store.ListBlocks(r.Context(), keyOf(r).ProjectID, p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]blockJSON, len(list))
	for i, b := range list {
		out[i] = encodeBlock(b)
	}
	writeJSON(w, http.StatusOK, openai.NewList(out, more, func(b blockJSON) string { return b.ID }))
}

// updateBlock makes the block's next version. With expected_version the
// edit applies only to that version (409 otherwise); without it, to
// whatever version is current, read afresh should another editor slip in
// between the read and the write.
func (s *Server) updateBlock(w http.ResponseWriter, r *http.Request) {
	var body blockBody
	if err := s.decodeBody(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	var b *engram.MemoryBlock
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		b, err = s.Store.GetBlock(r.Context(), keyOf(r).ProjectID, r.PathValue("id"))
		if err != nil {
			break
		}
		expect := b.Version
		if body.ExpectedVersion != nil {
			expect = *body.ExpectedVersion
		}
		if err = body.apply(b); err != nil {
			break
		}
		err = s.Store.UpdateBlock(r.Context(), b, expect)
		if body.ExpectedVersion != nil || engram.ErrorCode(err) != engram.EConflict {
			break
		}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, encodeBlock(b))
}

func (s *Server) listBlockVersions(w http.ResponseWriter, r *http.Request) {
	versions, err := s.Store.ListBlockVersions(r.Context(), keyOf(r).ProjectID, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]blockJSON, len(versions))
	for i, b := range versions {
		out[i] = blockJSON{Object: "memory.block.version", MemoryBlock: b}
	}
	writeJSON(w, http.StatusOK, openai.NewList(out, false, func(b blockJSON) string { return b.ID + "@" + strconv.Itoa(b.Version) }))
}

func (s *Server) deleteBlock(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.Store.DeleteBlock(r.Context(), keyOf(r).ProjectID, id); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, openai.Deleted{ID: id, Object: "memory.block.deleted", Deleted: true})
}
