// Package devstack brings up the services a local streambatch needs, as
// child processes on loopback with their data under one folder:
// PostgreSQL (unless DATABASE_URL is given), versitygw (S3), the Temporal
// CLI dev server and the Temporal Web UI server. `streambatch dev` runs the
// API and the worker against it.
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
)

// Options configure Start.
type Options struct {
	// DataDir keeps every service's data between runs (created if needed).
	DataDir string
	// DatabaseURL, when set, is used instead of a local PostgreSQL.
	DatabaseURL string
	// UI starts the Temporal Web UI server.
	UI bool
	// TemporalInMemory keeps Temporal's state in memory instead of a file
	// under DataDir (the benchmark: a stand-in for a Temporal cluster on
	// other machines, without SQLite's fsyncs on this one).
	TemporalInMemory bool
	Log              *slog.Logger
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
}

// Pids names the services' process ids (postgres, s3, temporal, ui).
func (s *Stack) Pids() map[string]int { return s.pids }

// Start starts the services in order (PostgreSQL, S3, Temporal, UI). On
// error, whatever started is stopped again.
func Start(ctx context.Context, opts Options) (s *Stack, err error) {
	dir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, err
	}
	s = &Stack{LogDir: filepath.Join(dir, "logs"), S3AccessKey: devS3AccessKey, S3SecretKey: devS3SecretKey}
	if err := os.MkdirAll(s.LogDir, 0o755); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	s.pids = map[string]int{}
	add := func(p *proc.Process, what, where string) {
		s.children = append(s.children, p)
		s.pids[strings.Fields(what)[0]] = p.Pid()
		opts.Log.Info("started "+what, "at", where, "log", p.Log)
	}
	if opts.DatabaseURL != "" {
		s.DatabaseURL = opts.DatabaseURL
	} else {
		p, url, err := startPostgres(ctx, filepath.Join(dir, "pg"), s.LogDir)
		if err != nil {
			return s, err
		}
		add(p, "PostgreSQL", url)
		s.DatabaseURL = url
	}
	p, endpoint, err := startS3(ctx, filepath.Join(dir, "s3"), s.LogDir)
	if err != nil {
		return s, err
	}
	add(p, "versitygw (S3)", endpoint)
	s.S3Endpoint = endpoint

	dbFile := filepath.Join(dir, "temporal.db")
	if opts.TemporalInMemory {
		dbFile = ""
	}
	p, addr, err := startTemporal(ctx, dbFile, s.LogDir)
	if err != nil {
		return s, err
	}
	add(p, "Temporal dev server", addr)
	s.TemporalAddress = addr

	if opts.UI {
		p, url, err := startUI(ctx, filepath.Join(dir, "temporal-ui"), addr, s.LogDir)
		if err != nil {
			return s, err
		}
		add(p, "Temporal UI", url)
		s.UIURL = url
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
