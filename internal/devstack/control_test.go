package devstack

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"github.com/streambatch/streambatch/internal/proc"
)

// Restart kills each service (all of its processes) and starts it again
// on the same address with the same data: PostgreSQL keeps a committed row
// through its crash recovery, Temporal (with its SQLite file) keeps a
// workflow, versitygw listens again; Kill leaves nothing listening.
func TestRestartKeepsAddressAndData(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL, versitygw and the Temporal dev server")
	}
	for _, tool := range []proc.Tool{proc.TemporalCLI, proc.VersityGW} {
		if _, err := tool.Path(); err != nil {
			t.Skip(err)
		}
	}
	if _, err := postgresBinDir(); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	// As root, PostgreSQL runs as the user postgres, which must reach it.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{DataDir: filepath.Join(dir, "data"), AnyPorts: true, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, l := range []string{"postgres.log", "versitygw.log", "temporal.log"} {
			raw, _ := os.ReadFile(filepath.Join(s.LogDir, l))
			if len(raw) > 3000 {
				raw = raw[len(raw)-3000:]
			}
			t.Logf("--- %s:\n%s", l, raw)
		}
	})

	db, err := pgx.Connect(ctx, s.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before the crash')"); err != nil {
		t.Fatal(err)
	}
	db.Close(ctx)
	tc, err := client.DialContext(ctx, client.Options{HostPort: s.TemporalAddress, Logger: log.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if _, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "kept", TaskQueue: "nobody"}, "Nothing"); err != nil {
		t.Fatal(err)
	}

	for _, name := range []string{ServicePostgres, ServiceS3, ServiceTemporal} {
		addr := s.services[name].addr
		oldPid := s.Process(name).Pid()
		if err := s.Kill(name); err != nil {
			t.Fatal(err)
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Fatalf("%s still listens on %s after Kill", name, addr)
		}
		if err := s.StartService(ctx, name); err != nil {
			t.Fatal(err)
		}
		if err := s.StartService(ctx, name); err == nil {
			t.Fatalf("StartService of a running %s succeeded", name)
		}
		if err := s.Restart(ctx, name); err != nil {
			t.Fatal(err)
		}
		if p := s.Process(name); p.Exited() || p.Pid() == oldPid {
			t.Fatalf("%s: process %d (exited %v), was %d", name, p.Pid(), p.Exited(), oldPid)
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err != nil {
			t.Fatalf("%s not listening on %s after Restart: %v", name, addr, err)
		} else {
			c.Close()
		}
	}

	db, err = pgx.Connect(ctx, s.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	var v string
	if err := db.QueryRow(ctx, "SELECT v FROM kept").Scan(&v); err != nil || v != "before the crash" {
		t.Fatalf("row after two PostgreSQL crashes: %q, %v", v, err)
	}
	// The SDK client reconnects by itself.
	desc, err := tc.DescribeWorkflowExecution(ctx, "kept", "")
	if err != nil {
		t.Fatalf("workflow after two Temporal crashes: %v", err)
	}
	if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("workflow status %s", st)
	}
	if _, err := s.service("nope"); err == nil {
		t.Fatal("an unknown service name was accepted")
	}
}

// Two stacks started at the same time must each get their own services
// (or one must fail to start), never share one. Both see the usual ports
// (7070, 7233) free, both children try them, one fails with "address
// already in use"; that stack must notice (proc.WaitListening checks that
// the listening socket is its child's) instead of using the other's.
func TestConcurrentStartsGetTheirOwnServices(t *testing.T) {
	for _, tool := range []proc.Tool{proc.TemporalCLI, proc.VersityGW} {
		if _, err := tool.Path(); err != nil {
			t.Skip(err)
		}
	}
	stacks := make([]*Stack, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for k := range stacks {
		dir := t.TempDir()
		wg.Go(func() {
			// No PostgreSQL: a DatabaseURL is given (and not used).
			stacks[k], errs[k] = Start(context.Background(), Options{DataDir: dir, DatabaseURL: "postgres://unused@127.0.0.1:1/unused",
				TemporalInMemory: true, Log: slog.New(slog.DiscardHandler)})
		})
	}
	wg.Wait()
	for k, s := range stacks {
		if errs[k] != nil {
			// Refusing to start is fine; sharing silently is not.
			t.Logf("stack %d did not start: %v", k, errs[k])
			continue
		}
		defer s.Stop()
	}
	time.Sleep(2 * time.Second) // a child that lost its port has exited by now
	for k, s := range stacks {
		if errs[k] != nil {
			continue
		}
		for _, name := range []string{ServiceS3, ServiceTemporal} {
			if p := s.Process(name); p.Exited() {
				t.Errorf("stack %d: its %s (pid %d) has exited, yet Start succeeded and the stack uses %s", k, name, p.Pid(), s.services[name].addr)
			}
		}
	}
}
