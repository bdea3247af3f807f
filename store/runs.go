package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/streambatch/streambatch/batch"
)

// InsertRuns creates one run per item in a single round trip. Items whose
// index already has a run are skipped (ON CONFLICT DO NOTHING), so a retried
// chunk is harmless. Nothing is inserted when the batch is not PENDING. It
// returns how many rows were inserted.
func (s *Store) InsertRuns(ctx context.Context, batchID string, items []batch.Item) (int, error) {
	n := len(items)
	idx := make([]int32, n)
	task := make([]string, n)
	payload := make([]*string, n)
	ptype := make([]string, n)
	opts := make([]*string, n)
	ecode := make([]*string, n)
	emsg := make([]*string, n)
	for k := range items {
		it := &items[k]
		idx[k] = int32(it.Index)
		task[k] = it.Task
		payload[k] = it.Payload
		ptype[k] = it.PayloadType
		if len(it.Options) > 0 {
			o := string(it.Options)
			opts[k] = &o
		}
		if it.ErrorCode != "" {
			ecode[k], emsg[k] = &it.ErrorCode, &it.ErrorMessage
		}
	}
	tag, err := s.pool.Exec(ctx, s.q.get("insert_runs"), batchID, idx, task, payload, ptype, opts, ecode, emsg)
	if err != nil {
		return 0, fmt.Errorf("store: insert %d runs of %s: %w", n, batchID, err)
	}
	return int(tag.RowsAffected()), nil
}

// CountRuns returns how many runs a batch has, and how many of them FAILED.
func (s *Store) CountRuns(ctx context.Context, batchID string) (total, failed int, err error) {
	err = s.pool.QueryRow(ctx, s.q.get("count_runs"), batchID).Scan(&total, &failed)
	if err != nil {
		return 0, 0, fmt.Errorf("store: count runs of %s: %w", batchID, err)
	}
	return total, failed, nil
}

// Run is a run row.
type Run struct {
	ID             string
	Index          int
	Task           string
	Status         batch.RunStatus
	PayloadType    string
	Payload        *string
	Options        json.RawMessage
	ErrorCode      *string
	ErrorMessage   *string
	QueueTimestamp time.Time
	CreatedAt      time.Time
}

// ListRuns returns up to limit runs of a batch with index > after, ordered
// by index (after = -1 starts at the beginning).
func (s *Store) ListRuns(ctx context.Context, batchID string, after, limit int) ([]Run, error) {
	rows, err := s.pool.Query(ctx, s.q.get("list_runs"), batchID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list runs of %s: %w", batchID, err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var r Run
		var status string
		var opts []byte
		if err := rows.Scan(&r.ID, &r.Index, &r.Task, &status, &r.PayloadType, &r.Payload, &opts,
			&r.ErrorCode, &r.ErrorMessage, &r.QueueTimestamp, &r.CreatedAt); err != nil {
			return nil, fmt.Errorf("store: list runs of %s: %w", batchID, err)
		}
		r.Status = batch.RunStatus(status)
		if opts != nil {
			r.Options = json.RawMessage(opts)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list runs of %s: %w", batchID, err)
	}
	return out, nil
}

// RunIndexes returns the set of indexes of a batch that have a run.
func (s *Store) RunIndexes(ctx context.Context, batchID string, runCount int) (*batch.IndexSet, error) {
	rows, err := s.pool.Query(ctx, s.q.get("run_indexes"), batchID)
	if err != nil {
		return nil, fmt.Errorf("store: run indexes of %s: %w", batchID, err)
	}
	defer rows.Close()
	set := batch.NewIndexSet(runCount)
	var i int
	for rows.Next() {
		if err := rows.Scan(&i); err != nil {
			return nil, err
		}
		set.Add(i)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: run indexes of %s: %w", batchID, err)
	}
	return set, nil
}
