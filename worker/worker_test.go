package worker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/streambatch/streambatch/internal/testenv"
)

// Registration waits until the attributes are listed; a namespace that does
// not exist fails with ErrNoNamespace and what to run, after the wait.
func TestEnsureSearchAttributes(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Temporal dev server")
	}
	t.Parallel()
	ctx := context.Background()
	srv, err := testenv.StartTemporal(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	c := srv.Client()
	defer c.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := EnsureSearchAttributes(ctx, c, "default", 30*time.Second, log); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = EnsureSearchAttributes(ctx, c, "no-such-namespace", 2*time.Second, log)
	if !errors.Is(err, ErrNoNamespace) || time.Since(start) < 2*time.Second {
		t.Fatalf("missing namespace after %s: %v", time.Since(start), err)
	}
}
