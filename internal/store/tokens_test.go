package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/streambatch/streambatch/batch"
)

// A one-time token creates one batch: concurrent creations with it see
// exactly one success, the others ErrTokenUsed, and a later use fails too.
func TestOneTimeTokenCreatesOneBatch(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	env, err := s.EnsureEnvironment(ctx, "e"+batch.NewStreamID())
	if err != nil {
		t.Fatal(err)
	}
	hash := sha256.Sum256([]byte("token " + batch.NewStreamID()))
	tok := &OneTimeToken{Hash: hash[:], ExpiresAt: time.Now().Add(time.Hour)}
	const racers = 8
	errs := make([]error, racers)
	var g errgroup.Group
	for i := range racers {
		g.Go(func() error {
			_, _, errs[i] = s.CreateBatchTx(ctx, NewBatch{ID: batch.NewBatchID(), Env: env, RunCount: 1, OneTimeToken: tok}, func(Batch) error { return nil })
			return nil
		})
	}
	_ = g.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrTokenUsed):
			t.Fatalf("a concurrent use failed with %v, want ErrTokenUsed", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d concurrent uses created a batch, want 1", won, racers)
	}
	if _, _, err := s.CreateBatchTx(ctx, NewBatch{ID: batch.NewBatchID(), Env: env, RunCount: 1, OneTimeToken: tok}, func(Batch) error { return nil }); !errors.Is(err, ErrTokenUsed) {
		t.Fatalf("a later use: %v, want ErrTokenUsed", err)
	}
}

// A creation that fails (its workflow did not start) does not use up the
// token: the next use creates the batch.
func TestOneTimeTokenSurvivesAFailedCreation(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	env, err := s.EnsureEnvironment(ctx, "e"+batch.NewStreamID())
	if err != nil {
		t.Fatal(err)
	}
	hash := sha256.Sum256([]byte("token " + batch.NewStreamID()))
	tok := &OneTimeToken{Hash: hash[:], ExpiresAt: time.Now().Add(time.Hour)}
	if _, _, err := s.CreateBatchTx(ctx, NewBatch{ID: batch.NewBatchID(), Env: env, RunCount: 1, OneTimeToken: tok}, func(Batch) error { return errors.New("temporal down") }); err == nil {
		t.Fatal("the failing creation succeeded")
	}
	if _, _, err := s.CreateBatchTx(ctx, NewBatch{ID: batch.NewBatchID(), Env: env, RunCount: 1, OneTimeToken: tok}, func(Batch) error { return nil }); err != nil {
		t.Fatalf("the use after a failed creation: %v", err)
	}
}
