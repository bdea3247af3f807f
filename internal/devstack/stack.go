// Package devstack brings up the services a local streambatch needs, as
// child processes on loopback with their data under one folder:
// PostgreSQL (unless DATABASE_URL is given), versitygw (S3), the Temporal
// CLI dev server and the Temporal Web UI server. `streambatch dev` runs the
// API and the worker against it. versitygw, the dev server and the real
// Temporal server are started by their own packages (versitygw,
// temporaldev, temporalserver), shared with the tests; devstack picks
// their ports, folders and logs and can kill and restart them, and must not
// start them another way.
package devstack

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/streambatch/streambatch/internal/proc"
	"github.com/streambatch/streambatch/internal/temporaldev"
	"github.com/streambatch/streambatch/internal/versitygw"
)

// Options configure Start.
type Options struct {
	// DataDir keeps every service's data between runs (created if needed).
	DataDir string
	// DatabaseURL, when set, is used instead of a local PostgreSQL.
	DatabaseURL string
	// UI starts the Temporal Web UI server.
	UI bool
	// CodecEndpoint, when set, is the codec endpoint the UI decodes
	// payloads with (streambatch's encrypted payloads).
	CodecEndpoint string
	// TemporalInMemory keeps Temporal's state in memory instead of a file
	// under DataDir (the benchmark: a stand-in for a Temporal cluster on
	// other machines, without SQLite's fsyncs on this one).
	TemporalInMemory bool
	// TemporalServer runs the real Temporal server (package
	// temporalserver) on the stack's PostgreSQL instead of the dev server,
	// in the databases streambatch_temporal and
	// streambatch_temporal_visibility, recreated empty at every start: the
	// production topology, for the benchmark's scale-out runs. It cannot
	// be stopped and started again (StopService, StartService).
	TemporalServer bool
	// AnyPorts puts every service on a free loopback port instead of its
	// usual one (54329, 7070, 7233, 8233 when free), for tests that start
	// several stacks at once: stacks starting together can both see a
	// usual port free, and then one of them ends up talking to the
	// other's service.
	AnyPorts bool
	Log      *slog.Logger
}

// Stack is a running set of services.
type Stack struct {
	DatabaseURL     string
	S3Endpoint      string
	S3AccessKey     string
	S3SecretKey     string
	TemporalAddress string
	// UIURL is the Temporal Web UI ("" when not started).
	UIURL string
	// LogDir holds each service's log file.
	LogDir   string
	children []*proc.Process
	pids     map[string]int
	// services maps a service name (ServicePostgres, …) to its process and
	// how to start it again (see control.go).
	services map[string]*service
}

// Pids maps service names (ServicePostgres, ServiceS3, ServiceTemporal,
// ServiceUI) to their process ids.
func (s *Stack) Pids() map[string]int { return s.pids }

// Start starts the services in order (PostgreSQL, S3, Temporal, UI). On
// error, whatever started is stopped again.
func Start(ctx context.Context, opts Options) (s *Stack, err error) {
	dir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, err
	}
	// S3 credentials of the dev stack's versitygw (loopback only).
	s = &Stack{LogDir: filepath.Join(dir, "logs"), S3AccessKey: "streambatch-dev", S3SecretKey: "streambatch-dev-secret"}
	if err := os.MkdirAll(s.LogDir, 0o755); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	s.pids = map[string]int{}
	s.services = map[string]*service{}
	// launch starts a service on its usual address when free (else, or
	// with AnyPorts, or when another process took the usual address before
	// the child bound it, on a free loopback address), records it, and returns
	// where it listens; start starts it again on the same address with the
	// same data (Stack.StartService).
	launch := func(name, what, usual string, start startFunc) (string, error) {
		pick := func() (string, error) { return proc.AddrOr(usual) }
		if opts.AnyPorts {
			pick = proc.FreeAddr
		}
		addr, err := pick()
		if err != nil {
			return "", err
		}
		p, where, err := start(ctx, addr)
		if err != nil && !opts.AnyPorts && strings.Contains(strings.ToLower(err.Error()), "address already in use") {
			// Another process bound the usual address between the check
			// and the child's bind (the child's log, in err, says so):
			// once more, on a free one.
			opts.Log.Warn("could not start "+what+"; trying a free port", "at", addr, "error", err)
			if addr, err = proc.FreeAddr(); err == nil {
				p, where, err = start(ctx, addr)
			}
		}
		if err != nil {
			return "", err
		}
		s.children = append(s.children, p)
		s.pids[name] = p.Pid()
		s.services[name] = &service{p: p, addr: hostPort(where), start: start}
		opts.Log.Info("started "+what, "at", where, "log", p.Log)
		return where, nil
	}
	if opts.DatabaseURL != "" {
		s.DatabaseURL = opts.DatabaseURL
	} else {
		pgDir := filepath.Join(dir, "pg")
		if s.DatabaseURL, err = launch(ServicePostgres, "PostgreSQL", "127.0.0.1:54329", func(ctx context.Context, addr string) (*proc.Process, string, error) {
			return startPostgres(ctx, pgDir, s.LogDir, addr)
		}); err != nil {
			return s, err
		}
	}
	s3Dir := filepath.Join(dir, "s3")
	if s.S3Endpoint, err = launch(ServiceS3, "versitygw (S3)", "127.0.0.1:7070", func(ctx context.Context, addr string) (*proc.Process, string, error) {
		srv, err := versitygw.Start(ctx, versitygw.Options{Dir: s3Dir, Addr: addr, Log: filepath.Join(s.LogDir, "versitygw.log"),
			AccessKey: s.S3AccessKey, SecretKey: s.S3SecretKey})
		if err != nil {
			return nil, "", err
		}
		return srv.Process(), srv.Endpoint, nil
	}); err != nil {
		return s, err
	}
	if opts.TemporalServer {
		if err := s.startTemporalServer(ctx, filepath.Join(dir, "temporal-server")); err != nil {
			return s, err
		}
		opts.Log.Info("started the Temporal server on PostgreSQL", "at", s.TemporalAddress, "log", s.LogDir)
	} else if s.TemporalAddress, err = launch(ServiceTemporal, "Temporal dev server", "127.0.0.1:7233", func(ctx context.Context, addr string) (*proc.Process, string, error) {
		dbFile := filepath.Join(dir, "temporal.db")
		if opts.TemporalInMemory {
			dbFile = ""
		}
		srv, err := temporaldev.Start(ctx, temporaldev.Options{Addr: addr, DBFile: dbFile, Log: filepath.Join(s.LogDir, "temporal.log")})
		if err != nil {
			return nil, "", err
		}
		return srv.Process(), srv.FrontendHostPort(), nil
	}); err != nil {
		return s, err
	}
	if opts.UI {
		uiDir := filepath.Join(dir, "temporal-ui")
		if s.UIURL, err = launch(ServiceUI, "Temporal UI", "127.0.0.1:8233", func(ctx context.Context, addr string) (*proc.Process, string, error) {
			return startUI(ctx, uiDir, s.TemporalAddress, opts.CodecEndpoint, s.LogDir, addr)
		}); err != nil {
			return s, err
		}
	}
	return s, nil
}

// Stop stops the services in reverse order, each with a bounded wait.
func (s *Stack) Stop() {
	for k := len(s.children) - 1; k >= 0; k-- {
		s.children[k].Stop(10 * time.Second)
	}
	s.children = nil
}

// Exited returns a channel that yields an error when any service exits on
// its own (the dev command then stops).
func (s *Stack) Exited() <-chan error {
	ch := make(chan error, 1)
	for _, p := range s.children {
		go func() {
			<-p.Done()
			select {
			case ch <- errors.New("a service exited; see " + p.Log):
			default:
			}
		}()
	}
	return ch
}
