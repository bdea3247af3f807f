package devstack

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/streambatch/streambatch/internal/proc"
	"github.com/streambatch/streambatch/internal/temporalserver"
)

// startUI runs the Temporal Web UI server (a newer UI than the CLI embeds:
// it has the activity pause / unpause / reset screens) on addr (host:port).
// A codecEndpoint makes the UI decode payloads through it.
func startUI(ctx context.Context, dir, temporalAddr, codecEndpoint, logDir, addr string) (*proc.Process, string, error) {
	bin, err := proc.UIServer.Path()
	if err != nil {
		return nil, "", err
	}
	host, port, _ := net.SplitHostPort(addr)
	if err := os.MkdirAll(filepath.Join(dir, "config"), 0o755); err != nil {
		return nil, "", err
	}
	cfg := fmt.Sprintf("temporalGrpcAddress: %s\nhost: %s\nport: %s\nenableUi: true\ndefaultNamespace: default\nhideLogs: true\ncors:\n  cookieInsecure: true\n", temporalAddr, host, port)
	if codecEndpoint != "" {
		cfg += fmt.Sprintf("codec:\n  endpoint: %s\n", codecEndpoint)
	}
	if err := os.WriteFile(filepath.Join(dir, "config", "development.yaml"), []byte(cfg), 0o644); err != nil {
		return nil, "", err
	}
	p, err := proc.Start(proc.Spec{Path: bin, Log: filepath.Join(logDir, "temporal-ui.log"), Args: []string{"--root", dir, "--env", "development", "start"}})
	if err != nil {
		return nil, "", err
	}
	if err := waitTCP(ctx, p, addr); err != nil {
		return nil, "", err
	}
	return p, "http://" + addr, nil
}

func waitTCP(ctx context.Context, p *proc.Process, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := p.WaitListening(ctx, addr); err != nil {
		p.Stop(5 * time.Second)
		return err
	}
	return nil
}

// startTemporalServer starts the real Temporal server on the databases
// streambatch_temporal and streambatch_temporal_visibility of the stack's
// PostgreSQL (recreated empty), logging under dir.
func (s *Stack) startTemporalServer(ctx context.Context, dir string) error {
	srv, err := temporalserver.Start(ctx, temporalserver.Options{Dir: dir, Postgres: s.DatabaseURL, Databases: "streambatch_temporal"})
	if err != nil {
		return err
	}
	s.children = append(s.children, srv.Process())
	s.pids[ServiceTemporal] = srv.Process().Pid()
	s.TemporalAddress = srv.FrontendHostPort()
	return nil
}
