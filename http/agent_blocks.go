package http

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/engram-run/engram"
)

// planBlocks checks an agent's block refs and turns each ref that defines
// a new block (label and value, no id) into that block, not yet stored:
// every ref is checked before anything is written, so a refused request
// leaves no stray blocks behind. The refs are rewritten to ids only.
func (s *Server) planBlocks(r *http.Request, a *engram.Agent) ([]*engram.MemoryBlock, error) {
	refs := a.Memory.Blocks
	var ids []string
	for _, ref := range refs {
		if ref.ID != "" {
			ids = append(ids, ref.ID)
		}
	}
	existing := map[string]*engram.MemoryBlock{}
	if len(ids) > 0 {
		found, err := s.Store.GetBlocks(r.Context(), a.ProjectID, ids)
		if err != nil {
			return nil, err
		}
		for _, b := range found {
			existing[b.ID] = b
		}
	}
	var created []*engram.MemoryBlock
	labels := map[string]bool{}
	out := make([]engram.BlockRef, len(refs))
	for i, ref := range refs {
		param := "memory.blocks[" + strconv.Itoa(i) + "]"
		var b *engram.MemoryBlock
		if ref.ID != "" {
			if ref.Value != "" || ref.Limit != 0 {
				return nil, engram.ParamErrorf(engram.EInvalid, param, "Invalid '%s': give either 'id' of an existing block, or 'label' and 'value' for a new one; change a block's value through /v1/memory/blocks/{id}.", param)
			}
			b = existing[ref.ID]
			if b == nil {
				return nil, engram.ParamErrorf(engram.ENotFound, param+".id", "Memory block with id '%s' not found.", ref.ID)
			}
			// A label next to an id is what GET shows; it must agree.
			if ref.Label != "" && ref.Label != b.Label {
				return nil, engram.ParamErrorf(engram.EInvalid, param+".label", "Invalid '%s.label': block %s is labelled '%s', not '%s'.", param, b.ID, b.Label, ref.Label)
			}
		} else {
			if ref.Label == "" {
				return nil, engram.ParamErrorf(engram.EInvalid, param, "Invalid '%s': give either 'id' of an existing block, or 'label' and 'value' for a new one.", param)
			}
			b = &engram.MemoryBlock{ID: engram.NewID("blk"), ProjectID: a.ProjectID, Label: ref.Label, Value: ref.Value,
				Limit: ref.Limit, Metadata: map[string]string{}, EditedBy: engram.EditedByAPI}
			if err := b.Check(); err != nil {
				var e *engram.Error
				if errors.As(err, &e) && e.Param != "" {
					full := param + "." + e.Param
					return nil, engram.ParamErrorf(e.Code, full, "%s", strings.ReplaceAll(e.Message, "'"+e.Param+"'", "'"+full+"'"))
				}
				return nil, err
			}
			created = append(created, b)
		}
		// The tools find a block by its label, so one agent's labels must
		// name one block each.
		if labels[b.Label] {
			return nil, engram.ParamErrorf(engram.EInvalid, param+".label", "Invalid '%s': this agent already has a block labelled '%s'; labels must differ within an agent.", param, b.Label)
		}
		labels[b.Label] = true
		out[i] = engram.BlockRef{ID: b.ID}
	}
	a.Memory.Blocks = out
	return created, nil
}

// storeAgent stores the new blocks, then the agent with store; when the
// agent is refused (its name taken, say) the new blocks are removed again,
// as nothing else can reach them yet.
func (s *Server) storeAgent(r *http.Request, a *engram.Agent, blocks []*engram.MemoryBlock, store func(context.Context, *engram.Agent) error) error {
	ctx := r.Context()
	var made []*engram.MemoryBlock
	var err error
	for _, b := range blocks {
		if err = s.Store.CreateBlock(ctx, b); err != nil {
			break
		}
		made = append(made, b)
	}
	if err == nil {
		err = store(ctx, a)
	}
	if err != nil {
		for _, b := range made {
			if derr := s.Store.DeleteBlock(context.WithoutCancel(ctx), b.ProjectID, b.ID); derr != nil {
				s.Logger.Warn("could not remove a refused agent's new memory block", "block", b.ID, "err", derr)
			}
		}
	}
	return err
}
