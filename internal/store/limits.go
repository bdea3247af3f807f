package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/streambatch/streambatch/internal/store/internal/db"
)

// Limits every API replica shares: each environment's token bucket for
// batch creation and its slots of heavy reads in flight.

// TakeCreateTokens takes n tokens (at most burst) of env's creation bucket,
// which refills at rate tokens per second up to burst, in one atomic
// statement whatever replica asks. It reports whether they were granted
// and the tokens left (after the take when granted, else before).
func (s *Store) TakeCreateTokens(ctx context.Context, env int64, rate float64, burst, n int) (granted bool, tokens float64, err error) {
	n = min(max(n, 1), burst)
	row, err := s.q.TakeCreateTokens(ctx, db.TakeCreateTokensParams{EnvironmentID: env, Rate: rate, Burst: float64(burst), N: float64(n)})
	if err != nil {
		return false, 0, fmt.Errorf("store: take %d creation tokens of environment %d: %w", n, env, err)
	}
	return row.Granted, row.Tokens, nil
}

// TakeReadSlot takes one of env's slots of heavy reads for holder (a
// unique id of this read), leased for ttl. ok is false when all slots
// are held by unexpired leases.
func (s *Store) TakeReadSlot(ctx context.Context, env int64, slots int, holder string, ttl time.Duration) (slot int, ok bool, err error) {
	got, err := s.q.TakeReadSlot(ctx, db.TakeReadSlotParams{EnvironmentID: env, Slots: int32(slots), Holder: holder, TtlSeconds: ttl.Seconds()})
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("store: take a read slot of environment %d: %w", env, err)
	}
	return int(got), true, nil
}

// RenewReadSlot extends holder's lease on a slot to ttl from now.
func (s *Store) RenewReadSlot(ctx context.Context, env int64, slot int, holder string, ttl time.Duration) error {
	if err := s.q.RenewReadSlot(ctx, db.RenewReadSlotParams{EnvironmentID: env, Slot: int32(slot), Holder: holder, TtlSeconds: ttl.Seconds()}); err != nil {
		return fmt.Errorf("store: renew read slot %d of environment %d: %w", slot, env, err)
	}
	return nil
}

// ReleaseReadSlot frees holder's slot (a slot another holder took since
// its lease expired is left alone).
func (s *Store) ReleaseReadSlot(ctx context.Context, env int64, slot int, holder string) error {
	if err := s.q.ReleaseReadSlot(ctx, db.ReleaseReadSlotParams{EnvironmentID: env, Slot: int32(slot), Holder: holder}); err != nil {
		return fmt.Errorf("store: release read slot %d of environment %d: %w", slot, env, err)
	}
	return nil
}
