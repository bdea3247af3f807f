package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/streambatch/streambatch/codec"
	"github.com/streambatch/streambatch/internal/app"
	"github.com/streambatch/streambatch/internal/config"
	"github.com/streambatch/streambatch/internal/devstack"
	"github.com/streambatch/streambatch/internal/store"
)

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("dev", `Runs a complete local stack on loopback: PostgreSQL (unless DATABASE_URL is
set), versitygw (S3), the Temporal dev server and Web UI, and the API and
worker in this process. Data persists under --data-dir. Ctrl-C stops it all.
Prints "API: <url>", "Temporal UI: <url>" and "API key: <key>".`, stderr)
	dataDir := fs.String("data-dir", ".streambatch", "folder that keeps every service's data between runs")
	noUI := fs.Bool("no-ui", false, "do not start the Temporal Web UI server")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: parseLevel(cfg.LogLevel)}))
	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		return err
	}
	// Fail before starting anything when the API address is taken.
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s (%s): %w", cfg.HTTPAddr, config.EnvHTTPAddr, err)
	}
	defer ln.Close()
	if cfg.PayloadRefURL == "" {
		// Task workers next to `streambatch dev` read large payloads here.
		cfg.PayloadRefURL = "http://" + ln.Addr().String()
	}

	// Temporal UI decodes streambatch's encrypted payloads through this
	// process's codec endpoint.
	if cfg.PayloadKeys == "" {
		if cfg.PayloadKeys, err = persistentPayloadKey(filepath.Join(*dataDir, "payload-keys")); err != nil {
			return err
		}
	}
	keys, err := codec.ParseKeys(cfg.PayloadKeys)
	if err != nil {
		return fmt.Errorf("%s: %w", config.EnvPayloadKeys, err)
	}
	codecLn, err := net.Listen("tcp", cfg.CodecAddr)
	if err != nil {
		if codecLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
	}
	defer codecLn.Close()
	codecURL := "http://" + codecLn.Addr().String()

	stack, err := devstack.Start(ctx, devstack.Options{DataDir: *dataDir, DatabaseURL: cfg.DatabaseURL, UI: !*noUI, CodecEndpoint: codecURL, Log: logger})
	if err != nil {
		return err
	}
	defer stack.Stop()
	cfg.DatabaseURL = stack.DatabaseURL
	cfg.TemporalAddress = stack.TemporalAddress
	cfg.S3Endpoint, cfg.S3AccessKeyID, cfg.S3SecretAccessKey = stack.S3Endpoint, stack.S3AccessKey, stack.S3SecretKey
	if cfg.S3Bucket == "" {
		cfg.S3Bucket = "streambatch"
	}
	if cfg.JWTSecret == "" {
		if cfg.JWTSecret, err = persistentSecret(filepath.Join(*dataDir, "jwt-secret")); err != nil {
			return err
		}
	}
	a, err := app.Open(ctx, cfg, config.NeedDatabase|config.NeedS3|config.NeedTemporal|config.NeedJWT, logger)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.Blob.EnsureBucket(ctx); err != nil {
		return err
	}
	key, err := devKey(ctx, a.Store, filepath.Join(*dataDir, "dev-api-key"))
	if err != nil {
		return err
	}
	app.SetMemoryLimit(cfg, config.RoleDev, logger)
	w := a.Worker()
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Stop()
	if err := a.EnsureSweepSchedule(ctx); err != nil {
		logger.Warn("object sweeper not scheduled", "error", err)
	}

	fmt.Fprintf(stdout, "API: http://%s\n", ln.Addr())
	if stack.UIURL != "" {
		fmt.Fprintf(stdout, "Temporal UI: %s\n", stack.UIURL)
	}
	fmt.Fprintf(stdout, "API key: %s\n", key)
	fmt.Fprintf(stdout, "Codec endpoint: %s  payload keys (for task workers: %s): %s\n", codecURL, config.EnvPayloadKeys, filepath.Join(*dataDir, "payload-keys"))
	fmt.Fprintf(stdout, "Temporal: %s  PostgreSQL: %s  S3: %s (bucket %s)  logs: %s\n", stack.TemporalAddress, redactURL(stack.DatabaseURL), stack.S3Endpoint, cfg.S3Bucket, stack.LogDir)

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case err := <-stack.Exited():
			logger.Error("stopping", "error", err)
			cancel()
		case <-sctx.Done():
		}
	}()
	origins := cfg.CodecOrigins
	if stack.UIURL != "" {
		origins = append(origins, stack.UIURL)
	}
	go func() {
		h := codec.Handler(keys, codec.HandlerOptions{Origins: origins, Token: cfg.CodecToken, Hosts: cfg.CodecHosts})
		if err := app.Serve(sctx, codecLn, h, logger); err != nil {
			logger.Warn("codec endpoint stopped", "error", err)
		}
	}()
	// Serve returns after in-flight requests finished; the deferred calls
	// then stop the worker and the services, in that order.
	return app.Serve(sctx, ln, a.API().Handler(), logger)
}

// devKey returns the dev environment's API key kept in path, creating the
// environment and a key when there is none (or it no longer works).
func devKey(ctx context.Context, st *store.Store, path string) (string, error) {
	if raw, err := os.ReadFile(path); err == nil {
		key := strings.TrimSpace(string(raw))
		if _, err := st.Authenticate(ctx, key); err == nil {
			return key, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
	}
	env, err := st.EnsureEnvironment(ctx, "dev")
	if err != nil {
		return "", err
	}
	key, err := st.CreateAPIKey(ctx, env)
	if err != nil {
		return "", err
	}
	return key, os.WriteFile(path, []byte(key+"\n"), 0o600)
}

// persistentSecret returns a random secret kept in path across runs.
func persistentSecret(path string) (string, error) {
	if raw, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(raw))) >= 32 {
		return strings.TrimSpace(string(raw)), nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	s := hex.EncodeToString(b)
	return s, os.WriteFile(path, []byte(s+"\n"), 0o600)
}

// persistentPayloadKey returns the payload key set kept in path across
// runs (payloads in the dev stack's Temporal stay readable), creating one.
func persistentPayloadKey(path string) (string, error) {
	if raw, err := os.ReadFile(path); err == nil {
		if s := strings.TrimSpace(string(raw)); s != "" {
			return s, nil
		}
	}
	entry, err := codec.NewKey("dev")
	if err != nil {
		return "", err
	}
	return entry, os.WriteFile(path, []byte(entry+"\n"), 0o600)
}

func parseLevel(s string) slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(s))
	return l
}

func redactURL(u string) string {
	if at := strings.LastIndex(u, "@"); at >= 0 {
		if scheme := strings.Index(u, "://"); scheme >= 0 && scheme < at {
			user := u[scheme+3 : at]
			if name, _, ok := strings.Cut(user, ":"); ok {
				return u[:scheme+3] + name + ":***" + u[at:]
			}
		}
	}
	return u
}
