package testenv

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"github.com/streambatch/streambatch/internal/temporaldev"
)

// DevServer is a Temporal CLI dev server (package temporaldev) with a
// client connected to it.
type DevServer struct {
	*temporaldev.Server
	client client.Client
}

// StartTemporal starts a headless Temporal CLI dev server on a free port,
// logging to logDir/temporal.log, and returns once a client connects.
// dbFile, when set, persists its state; dynamicConfig entries (KEY=VALUE)
// override the server's dynamic config.
func StartTemporal(ctx context.Context, logDir, dbFile string, dynamicConfig ...string) (*DevServer, error) {
	srv, err := temporaldev.Start(ctx, temporaldev.Options{DBFile: dbFile, Log: filepath.Join(logDir, "temporal.log"),
		LogLevel: "error", DynamicConfig: dynamicConfig})
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	// Start returns once the frontend is healthy: one dial connects.
	c, err := client.DialContext(ctx, client.Options{HostPort: srv.FrontendHostPort(), Logger: log.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		_ = srv.Stop()
		return nil, fmt.Errorf("testenv: temporal dev server at %s: %w", srv.FrontendHostPort(), err)
	}
	return &DevServer{Server: srv, client: c}, nil
}

// Client is a client of the server's default namespace.
func (s *DevServer) Client() client.Client { return s.client }

// Stop closes the client and stops the server.
func (s *DevServer) Stop() error {
	s.client.Close()
	return s.Server.Stop()
}
