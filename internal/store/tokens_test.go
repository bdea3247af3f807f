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
	tok := &PublicToken{Hash: hash[:], OneTime: true, ExpiresAt: time.Now().Add(time.Hour)}
	const racers = 8
	errs := make([]error, racers)
	var g errgroup.Group
	for i := range racers {
		g.Go(func() error {
			_, _, errs[i] = s.CreateBatchTx(ctx, NewBatch{ID: batch.NewBatchID(), Env: env, RunCount: 1, Token: tok}, func(Batch) error { return nil })
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
	if _, _, err := s.CreateBatchTx(ctx, NewBatch{ID: batch.NewBatchID(), Env: env, RunCount: 1, Token: tok}, func(Batch) error { return nil }); !errors.Is(err, ErrTokenUsed) {
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
	tok := &PublicToken{Hash: hash[:], OneTime: true, ExpiresAt: time.Now().Add(time.Hour)}
	if _, _, err := s.CreateBatchTx(ctx, NewBatch{ID: batch.NewBatchID(), Env: env, RunCount: 1, Token: tok}, func(Batch) error { return errors.New("temporal down") }); err == nil {
		t.Fatal("the failing creation succeeded")
	}
	if _, _, err := s.CreateBatchTx(ctx, NewBatch{ID: batch.NewBatchID(), Env: env, RunCount: 1, Token: tok}, func(Batch) error { return nil }); err != nil {
		t.Fatalf("the use after a failed creation: %v", err)
	}
}

// A multiple-use token creates many batches, and each is recorded as its:
// TokenBatchTasks answers their tasks, and nothing for a batch it did not
// create or of another environment.
func TestTokenBatchesAreRecorded(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	env, err := s.EnsureEnvironment(ctx, "e"+batch.NewStreamID())
	if err != nil {
		t.Fatal(err)
	}
	hash := sha256.Sum256([]byte("token " + batch.NewStreamID()))
	tok := &PublicToken{Hash: hash[:], ExpiresAt: time.Now().Add(time.Hour)}
	var ids []string
	for range 2 {
		b, _, err := s.CreateBatchTx(ctx, NewBatch{ID: batch.NewBatchID(), Env: env, RunCount: 1, TaskIdentifiers: []string{"a"}, Token: tok}, func(Batch) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, b.ID)
	}
	for _, id := range ids {
		if tasks, err := s.TokenBatchTasks(ctx, env.ID, id, hash[:]); err != nil || len(tasks) != 1 || tasks[0] != "a" {
			t.Fatalf("batch %s: tasks %v, %v", id, tasks, err)
		}
	}
	if _, err := s.TokenBatchTasks(ctx, env.ID+1_000_000, ids[0], hash[:]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another environment: %v, want ErrNotFound", err)
	}
	other := newBatch(t, s, 1)
	if _, err := s.TokenBatchTasks(ctx, other.EnvironmentID, other.ID, hash[:]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a batch the token did not create: %v, want ErrNotFound", err)
	}
}
