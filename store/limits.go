package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Limits every API replica shares: each environment's token bucket for
// batch creation and its slots of heavy reads in flight.

// TakeCreateTokens takes n tokens (at most burst) of env's creation bucket,
// which refills at rate tokens per second up to burst, in one atomic
// statement whatever replica asks. It reports whether they were granted
// and the tokens left (after the take when granted, else before).
func (s *Store) TakeCreateTokens(ctx context.Context, env int64, rate float64, burst, n int) (granted bool, tokens float64, err error) {
	n = min(max(n, 1), burst)
	err = s.pool.QueryRow(ctx, s.q.get("take_create_tokens"), env, rate, burst, n).Scan(&granted, &tokens)
	if err != nil {
		return false, 0, fmt.Errorf("store: take %d creation tokens of environment %d: %w", n, env, err)
	}
	return granted, tokens, nil
}

// TakeReadSlot takes one of env's slots of heavy reads for holder (a
// unique id of this read), leased for ttl. ok is false when all slots
// are held by unexpired leases.
func (s *Store) TakeReadSlot(ctx context.Context, env int64, slots int, holder string, ttl time.Duration) (slot int, ok bool, err error) {
	err = s.pool.QueryRow(ctx, s.q.get("take_read_slot"), env, slots, holder, ttl.Seconds()).Scan(&slot)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("store: take a read slot of environment %d: %w", env, err)
	}
	return slot, true, nil
}

// RenewReadSlot extends holder's lease on a slot to ttl from now.
func (s *Store) RenewReadSlot(ctx context.Context, env int64, slot int, holder string, ttl time.Duration) error {
	if _, err := s.pool.Exec(ctx, s.q.get("renew_read_slot"), env, slot, holder, ttl.Seconds()); err != nil {
		return fmt.Errorf("store: renew read slot %d of environment %d: %w", slot, env, err)
	}
	return nil
}

// ReleaseReadSlot frees holder's slot (a slot another holder took since
// its lease expired is left alone).
func (s *Store) ReleaseReadSlot(ctx context.Context, env int64, slot int, holder string) error {
	if _, err := s.pool.Exec(ctx, s.q.get("release_read_slot"), env, slot, holder); err != nil {
		return fmt.Errorf("store: release read slot %d of environment %d: %w", slot, env, err)
	}
	return nil
}
