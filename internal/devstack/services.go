package devstack

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/streambatch/streambatch/internal/proc"
	"github.com/streambatch/streambatch/internal/temporalserver"
)

// S3 credentials of the dev stack's versitygw (loopback only).
const (
	devS3AccessKey = "streambatch-dev"
	devS3SecretKey = "streambatch-dev-secret"
)

// startS3 runs versitygw with its posix backend in dir, on addr (host:port).
func startS3(ctx context.Context, dir, logDir, addr string) (*proc.Process, string, error) {
	bin, err := proc.VersityGW.Path()
	if err != nil {
		return nil, "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	p, err := proc.Start(proc.Spec{Path: bin, Log: filepath.Join(logDir, "versitygw.log"),
		Args: []string{"--port", addr, "--access", devS3AccessKey, "--secret", devS3SecretKey, "--region", "us-east-1", "--health", "/health", "--quiet", "posix", dir}})
	if err != nil {
		return nil, "", err
	}
	if err := waitTCP(ctx, p, addr); err != nil {
		return nil, "", err
	}
	return p, "http://" + addr, nil
}

// startTemporal runs the Temporal CLI dev server, headless, with its state
// in dbFile (in memory when empty) and streambatch's search attributes, on
// addr (host:port).
func startTemporal(ctx context.Context, dbFile, logDir, addr string) (*proc.Process, string, error) {
	bin, err := proc.TemporalCLI.Path()
	if err != nil {
		return nil, "", err
	}
	host, port, _ := net.SplitHostPort(addr)
	args := []string{
		"server", "start-dev", "--headless", "--ip", host, "--port", port, "--log-level", "warn",
		"--search-attribute", "BatchId=Keyword", "--search-attribute", "BatchState=Keyword", "--search-attribute", "BatchEnv=Keyword",
		"--dynamic-config-value", "frontend.enableServerVersionCheck=false",
	}
	if dbFile != "" {
		args = append(args, "--db-filename", dbFile)
	}
	p, err := proc.Start(proc.Spec{Path: bin, Log: filepath.Join(logDir, "temporal.log"), Args: args})
	if err != nil {
		return nil, "", err
	}
	if err := waitTCP(ctx, p, addr); err != nil {
		return nil, "", err
	}
	return p, addr, nil
}

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

// startTemporalServer starts the real Temporal server on fresh databases of
// the stack's PostgreSQL, logging under dir.
func (s *Stack) startTemporalServer(ctx context.Context, dir string) error {
	var urls []string
	for _, name := range []string{"streambatch_temporal", "streambatch_temporal_visibility"} {
		u, err := recreateDatabase(ctx, s.DatabaseURL, name)
		if err != nil {
			return err
		}
		urls = append(urls, u)
	}
	srv, err := temporalserver.Start(ctx, temporalserver.Options{Dir: dir, DefaultStore: urls[0], Visibility: urls[1]})
	if err != nil {
		return err
	}
	s.children = append(s.children, srv.Process())
	s.pids[ServiceTemporal] = srv.Process().Pid()
	s.TemporalAddress = srv.FrontendHostPort()
	return nil
}

// recreateDatabase drops and creates the database name on the server of
// dbURL and returns its URL.
func recreateDatabase(ctx context.Context, dbURL, name string) (string, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	id := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+id+" WITH (FORCE)"); err != nil {
		return "", fmt.Errorf("devstack: drop %s: %w", name, err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+id); err != nil {
		return "", fmt.Errorf("devstack: create %s: %w", name, err)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	u.RawQuery = ""
	return u.String(), nil
}
