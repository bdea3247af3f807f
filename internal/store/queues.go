package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/streambatch/streambatch/internal/store/internal/db"
)

// Queue is a queue of an environment (trigger.dev's V1 queue): a run's
// queue is its options.queue.name, or "task/<task>" when it names none.
// At most Limit runs of each (queue, concurrencyKey) hold a slot at once
// (a run holds one from its claim by a dispatch step until its outcome is
// recorded); a paused queue dispatches nothing new.
type Queue struct {
	// ID is "queue_" and 24 hex digits derived from the environment and
	// name, the same whether or not the queue has a row.
	ID   string
	Name string
	// Base is the limit the runs named (options.queue.concurrencyLimit,
	// the last one a claim saw), Override the one set through the API;
	// nil: none.
	Base, Override *int
	OverriddenAt   *time.Time
	Paused         bool
	// Running is how many of its runs hold a slot (dispatched or
	// executing), Queued how many wait in unfinished batches.
	Running, Queued int
}

// Limit returns the limit in force: the override, else the base (nil:
// none).
func (q Queue) Limit() *int {
	if q.Override != nil {
		return q.Override
	}
	return q.Base
}

func queueFromRow(r db.GetQueueRow) Queue {
	q := Queue{ID: r.ID, Name: r.Name, OverriddenAt: r.OverriddenAt, Paused: r.Paused,
		Running: int(r.Running), Queued: int(r.Queued)}
	if r.BaseLimit != nil {
		q.Base = ptr(int(*r.BaseLimit))
	}
	if r.OverrideLimit != nil {
		q.Override = ptr(int(*r.OverrideLimit))
	}
	return q
}

// GetQueue returns the queue called name of environment env; a queue no
// run named with a limit and the API never touched comes back unlimited
// and not paused.
func (s *Store) GetQueue(ctx context.Context, env int64, name string) (Queue, error) {
	r, err := s.q.GetQueue(ctx, db.GetQueueParams{EnvironmentID: env, Name: name})
	if err != nil {
		return Queue{}, fmt.Errorf("store: queue %q: %w", name, err)
	}
	return queueFromRow(r), nil
}

// QueueNameByID returns the name of the queue of environment env whose id
// is id; ErrNotFound when the queue has no row (only queues with a row can
// be found by id).
func (s *Store) QueueNameByID(ctx context.Context, env int64, id string) (string, error) {
	name, err := s.q.QueueNameByID(ctx, db.QueueNameByIDParams{EnvironmentID: env, ID: &id})
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("store: queue %s: %w", id, err)
	}
	return name, nil
}

// ListQueues returns up to limit queues of environment env after skipping
// skip, by name, and how many there are: the queues with a row (a limit
// seen on a run, or paused or overridden through the API).
func (s *Store) ListQueues(ctx context.Context, env int64, skip, limit int) ([]Queue, int, error) {
	total, err := s.q.CountQueues(ctx, env)
	if err != nil {
		return nil, 0, fmt.Errorf("store: count queues: %w", err)
	}
	rows, err := s.q.ListQueues(ctx, db.ListQueuesParams{EnvironmentID: env, MaxRows: int32(limit), Skip: int32(skip)})
	if err != nil {
		return nil, 0, fmt.Errorf("store: list queues: %w", err)
	}
	out := make([]Queue, len(rows))
	for k, r := range rows {
		out[k] = queueFromRow(db.GetQueueRow(r))
	}
	return out, int(total), nil
}

// PauseQueue pauses or resumes a queue and returns it; resuming also
// returns the batches that waited for it (signal them).
func (s *Store) PauseQueue(ctx context.Context, env int64, name string, paused bool) (Queue, []QueueWaiter, error) {
	if err := s.q.PauseQueue(ctx, db.PauseQueueParams{EnvironmentID: env, Name: name, Paused: paused}); err != nil {
		return Queue{}, nil, fmt.Errorf("store: pause queue %q: %w", name, err)
	}
	var woken []QueueWaiter
	if !paused {
		var err error
		if woken, err = s.takeWaiters(ctx, env, name); err != nil {
			return Queue{}, nil, err
		}
	}
	q, err := s.GetQueue(ctx, env, name)
	return q, woken, err
}

// OverrideQueueLimit sets the queue's limit to limit (nil: back to its
// base) and returns it, with the batches that waited for it (signal them).
func (s *Store) OverrideQueueLimit(ctx context.Context, env int64, name string, limit *int) (Queue, []QueueWaiter, error) {
	var l *int32
	if limit != nil {
		l = ptr(int32(*limit))
	}
	if err := s.q.OverrideQueueLimit(ctx, db.OverrideQueueLimitParams{EnvironmentID: env, Name: name, OverrideLimit: l}); err != nil {
		return Queue{}, nil, fmt.Errorf("store: override the limit of queue %q: %w", name, classify(err))
	}
	woken, err := s.takeWaiters(ctx, env, name)
	if err != nil {
		return Queue{}, nil, err
	}
	q, err := s.GetQueue(ctx, env, name)
	return q, woken, err
}

func (s *Store) takeWaiters(ctx context.Context, env int64, name string) ([]QueueWaiter, error) {
	rows, err := s.q.TakeQueueWaiters(ctx, db.TakeQueueWaitersParams{EnvironmentID: env, Queue: name})
	if err != nil {
		return nil, fmt.Errorf("store: waiters of queue %q: %w", name, err)
	}
	out := make([]QueueWaiter, len(rows))
	for k, r := range rows {
		out[k] = QueueWaiter{BatchID: r.BatchID, From: int(r.FromIndex)}
	}
	return out, nil
}
