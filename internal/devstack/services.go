package devstack

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/streambatch/streambatch/internal/proc"
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
func startUI(ctx context.Context, dir, temporalAddr, logDir, addr string) (*proc.Process, string, error) {
	bin, err := proc.UIServer.Path()
	if err != nil {
		return nil, "", err
	}
	host, port, _ := net.SplitHostPort(addr)
	if err := os.MkdirAll(filepath.Join(dir, "config"), 0o755); err != nil {
		return nil, "", err
	}
	cfg := fmt.Sprintf("temporalGrpcAddress: %s\nhost: %s\nport: %s\nenableUi: true\ndefaultNamespace: default\nhideLogs: true\ncors:\n  cookieInsecure: true\n", temporalAddr, host, port)
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
