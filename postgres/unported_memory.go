package postgres

import (
	"context"

	"github.com/engram-run/engram"
)

// Temporary: the memory half of the store (records, blocks, schedules,
// extractions) is being ported on its own branch; until it lands these
// methods say so.

func notYet() error { return engram.Errorf(engram.EUnsupported, "not yet") }

// CreateRecord implements engram.RecordStore.
func (db *DB) CreateRecord(ctx context.Context, r *engram.MemoryRecord) error { return notYet() }

// GetRecord implements engram.RecordStore.
func (db *DB) GetRecord(ctx context.Context, projectID, id string) (*engram.MemoryRecord, error) {
	return nil, notYet()
}

// ListRecords implements engram.RecordStore.
func (db *DB) ListRecords(ctx context.Context, scope engram.MemoryScope, f engram.RecordFilter) ([]*engram.MemoryRecord, bool, error) {
	return nil, false, notYet()
}

// DeleteRecord implements engram.RecordStore.
func (db *DB) DeleteRecord(ctx context.Context, projectID, id string) error { return notYet() }

// SearchRecordsText implements engram.RecordStore.
func (db *DB) SearchRecordsText(ctx context.Context, scope engram.MemoryScope, terms []string, k int, includeSuperseded bool) ([]engram.RankedRecord, error) {
	return nil, notYet()
}

// SearchRecordsVector implements engram.RecordStore.
func (db *DB) SearchRecordsVector(ctx context.Context, scope engram.MemoryScope, vec []float32, model string, k int, includeSuperseded bool) ([]engram.RankedRecord, error) {
	return nil, notYet()
}

// SearchItemsText implements engram.RecordStore.
func (db *DB) SearchItemsText(ctx context.Context, scope engram.MemoryScope, terms []string, k int, excludeConversation string) ([]engram.RankedItem, error) {
	return nil, notYet()
}

// CreateBlock implements engram.BlockStore.
func (db *DB) CreateBlock(ctx context.Context, b *engram.MemoryBlock) error { return notYet() }

// GetBlock implements engram.BlockStore.
func (db *DB) GetBlock(ctx context.Context, projectID, id string) (*engram.MemoryBlock, error) {
	return nil, notYet()
}

// GetBlocks implements engram.BlockStore.
func (db *DB) GetBlocks(ctx context.Context, projectID string, ids []string) ([]*engram.MemoryBlock, error) {
	return nil, notYet()
}

// ListBlocks implements engram.BlockStore.
func (db *DB) ListBlocks(ctx context.Context, projectID string, page engram.Page) ([]*engram.MemoryBlock, bool, error) {
	return nil, false, notYet()
}

// UpdateBlock implements engram.BlockStore.
func (db *DB) UpdateBlock(ctx context.Context, b *engram.MemoryBlock, expectVersion int) error {
	return notYet()
}

// ListBlockVersions implements engram.BlockStore.
func (db *DB) ListBlockVersions(ctx context.Context, projectID, id string) ([]*engram.MemoryBlock, error) {
	return nil, notYet()
}

// DeleteBlock implements engram.BlockStore.
func (db *DB) DeleteBlock(ctx context.Context, projectID, id string) error { return notYet() }

// CreateSchedule implements engram.ScheduleStore.
func (db *DB) CreateSchedule(ctx context.Context, s *engram.Schedule) error { return notYet() }

// GetSchedule implements engram.ScheduleStore.
func (db *DB) GetSchedule(ctx context.Context, projectID, id string) (*engram.Schedule, error) {
	return nil, notYet()
}

// ListSchedules implements engram.ScheduleStore.
func (db *DB) ListSchedules(ctx context.Context, projectID string, page engram.Page) ([]*engram.Schedule, bool, error) {
	return nil, false, notYet()
}

// UpdateSchedule implements engram.ScheduleStore.
func (db *DB) UpdateSchedule(ctx context.Context, s *engram.Schedule) error { return notYet() }

// DeleteSchedule implements engram.ScheduleStore.
func (db *DB) DeleteSchedule(ctx context.Context, projectID, id string) error { return notYet() }

// DueSchedules implements engram.ScheduleStore.
func (db *DB) DueSchedules(ctx context.Context, now int64, limit int) ([]*engram.Schedule, error) {
	return nil, notYet()
}

// AdvanceSchedule implements engram.ScheduleStore.
func (db *DB) AdvanceSchedule(ctx context.Context, projectID, id string, expectNext, newNext, firedAt int64) error {
	return notYet()
}

// RecordScheduleFire implements engram.ScheduleStore.
func (db *DB) RecordScheduleFire(ctx context.Context, projectID, id string, firedAt int64, responseID, errMsg string) error {
	return notYet()
}

// NoteTurn implements engram.ExtractionStore.
func (db *DB) NoteTurn(ctx context.Context, e *engram.Extraction, policy engram.ExtractionPolicy, now int64) error {
	return notYet()
}

// ClaimExtraction implements engram.ExtractionStore.
func (db *DB) ClaimExtraction(ctx context.Context, lease engram.Lease, now int64) (*engram.Extraction, error) {
	return nil, notYet()
}

// FinishExtraction implements engram.ExtractionStore.
func (db *DB) FinishExtraction(ctx context.Context, e *engram.Extraction, usage []*engram.UsageRecord) error {
	return notYet()
}

// GetExtraction implements engram.ExtractionStore.
func (db *DB) GetExtraction(ctx context.Context, projectID, conversationID string) (*engram.Extraction, error) {
	return nil, notYet()
}
