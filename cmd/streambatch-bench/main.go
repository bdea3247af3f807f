// Command streambatch-bench measures streambatch against the algorithms it
// replaces and the physical floor (docs/performance.md). It starts its own
// stack and runs `streambatch serve` and `streambatch worker` from a
// streambatch binary (--streambatch), so the production binary carries no
// benchmark code. It owns the flags and their checks only: the scenarios,
// baselines and stack are package internal/bench; nothing of the server
// imports this command or that package.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the benchmark and returns the exit code: 0 success, 1 failure,
// 2 usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := runBench(ctx, args, stdout, stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintf(stderr, "streambatch-bench: %v\n", err)
	return 1
}

// errUsage marks an error already reported with usage text.
var errUsage = errors.New("usage")

// streambatchBinary finds the streambatch binary whose serve and worker the
// benchmark runs: the one given, else `streambatch` beside this command,
// else `streambatch` on PATH.
func streambatchBinary(given string) (string, error) {
	if given != "" {
		p, err := exec.LookPath(given)
		if err != nil {
			return "", err
		}
		return filepath.Abs(p)
	}
	if self, err := os.Executable(); err == nil {
		beside := filepath.Join(filepath.Dir(self), "streambatch")
		if st, err := os.Stat(beside); err == nil && !st.IsDir() {
			return beside, nil
		}
	}
	if p, err := exec.LookPath("streambatch"); err == nil {
		return p, nil
	}
	return "", errors.New("no streambatch binary beside streambatch-bench or on PATH: build it (go build -o bin/streambatch ./cmd/streambatch) or pass --streambatch")
}
