package worker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/streambatch/streambatch/internal/testenv"
)

// devClient starts a Temporal dev server of the test's own and returns its
// client (both stop with the test); in -short mode the test is skipped.
func devClient(t *testing.T) client.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a Temporal dev server")
	}
	srv, err := testenv.StartTemporal(context.Background(), t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	c := srv.Client()
	t.Cleanup(c.Close)
	return c
}

// Registration waits until the attributes are listed; a namespace that does
// not exist fails with ErrNoNamespace and what to run, after the wait.
func TestEnsureSearchAttributes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := devClient(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := EnsureSearchAttributes(ctx, c, "default", 30*time.Second, log); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := EnsureSearchAttributes(ctx, c, "no-such-namespace", 2*time.Second, log)
	if !errors.Is(err, ErrNoNamespace) || time.Since(start) < 2*time.Second {
		t.Fatalf("missing namespace after %s: %v", time.Since(start), err)
	}
}
