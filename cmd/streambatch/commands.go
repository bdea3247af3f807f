package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/app"
	"github.com/streambatch/streambatch/internal/config"
	"github.com/streambatch/streambatch/internal/store"
)

// open loads the configuration and connects what need asks for.
func open(ctx context.Context, need config.Need) (*app.App, error) {
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	return app.Open(ctx, cfg, need, app.NewLogger(cfg.LogLevel))
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", "Runs the HTTP API on STREAMBATCH_HTTP_ADDR. Needs DATABASE_URL, S3_BUCKET,\nSTREAMBATCH_JWT_SECRET and a reachable Temporal server; applies migrations at start.", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	a, err := open(ctx, config.NeedDatabase|config.NeedS3|config.NeedTemporal|config.NeedJWT)
	if err != nil {
		return err
	}
	defer a.Close()
	cfg, logger := a.Config, a.Log
	if err := a.Blob.CheckBucket(ctx); err != nil {
		return fmt.Errorf("%w (create the bucket or fix %s)", err, config.EnvS3Bucket)
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s (%s): %w", cfg.HTTPAddr, config.EnvHTTPAddr, err)
	}
	app.StartDebug(ctx, cfg.DebugAddr, logger)
	app.SetMemoryLimit(cfg, config.RoleServe, logger)
	logger.Info("serving", "addr", ln.Addr().String())
	return app.Serve(ctx, ln, a.API().Handler(), logger)
}

func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("worker", "Runs the Temporal worker on STREAMBATCH_TASK_QUEUE, with at most\nSTREAMING_BATCH_INGEST_CONCURRENCY activities at once. Needs DATABASE_URL, S3_BUCKET and\nSTREAMBATCH_JWT_SECRET (the same as the API's: it verifies the chunks the API signs).", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	a, err := open(ctx, config.NeedDatabase|config.NeedS3|config.NeedTemporal|config.NeedJWT)
	if err != nil {
		return err
	}
	defer a.Close()
	cfg, logger := a.Config, a.Log
	w := a.Worker()
	if err := w.Start(); err != nil {
		return err
	}
	if err := a.EnsureSweepSchedule(ctx); err != nil {
		logger.Warn("object sweeper not scheduled; unreferenced objects of finished batches stay until it is", "error", err)
	}
	app.StartDebug(ctx, cfg.DebugAddr, logger)
	app.StartMetrics(ctx, cfg.MetricsAddr, a.Metrics, logger)
	app.SetMemoryLimit(cfg, config.RoleWorker, logger)
	logger.Info("worker started", "task_queue", cfg.TaskQueue, "activity_concurrency", cfg.IngestConcurrency)
	<-ctx.Done()
	logger.Info("stopping worker")
	w.Stop()
	return nil
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate", "Applies pending database migrations (DATABASE_URL) and exits.", stderr)
	createBucket := fs.Bool("create-bucket", false, "also create the S3 bucket (S3_BUCKET) if it does not exist")
	if err := parse(fs, args); err != nil {
		return err
	}
	need := config.NeedDatabase
	if *createBucket {
		need |= config.NeedS3
	}
	a, err := open(ctx, need)
	if err != nil {
		return err
	}
	defer a.Close()
	fmt.Fprintln(stdout, "database is up to date")
	if *createBucket {
		if err := a.Blob.EnsureBucket(ctx); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "bucket %s exists\n", a.Config.S3Bucket)
	}
	return nil
}

func runHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("healthcheck", "Exits 0 when the API on STREAMBATCH_HTTP_ADDR answers /readyz with 200\n(for container health checks).", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("%s: %w", config.EnvHTTPAddr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: %d %s", resp.StatusCode, body)
	}
	fmt.Fprintf(stdout, "%s\n", body)
	return nil
}

func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := "Usage: streambatch keys create --env NAME | keys list [--env NAME] | keys revoke ID"
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "create":
		return runKeysCreate(ctx, args[1:], stdout, stderr)
	case "list":
		return runKeysList(ctx, args[1:], stdout, stderr)
	case "revoke":
		return runKeysRevoke(ctx, args[1:], stdout, stderr)
	case "-h", "--help":
		fmt.Fprintln(stderr, usage)
		return nil
	}
	fmt.Fprintln(stderr, usage)
	return errUsage
}

func runKeysCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("keys create", "Creates the environment NAME if needed and a new API key for it. The key is\nprinted once, alone on the last line of stdout; it is stored as a hash and, when\nSTREAMBATCH_JWT_SECRET is set, sealed (so tokens the trigger.dev SDK signs\nwith it verify).", stderr)
	env := fs.String("env", "", "environment name (lowercase letters, digits, '-' and '_')")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := batch.ValidateEnvName(*env); err != nil {
		fmt.Fprintln(stderr, err)
		fs.Usage()
		return errUsage
	}
	a, err := open(ctx, config.NeedDatabase)
	if err != nil {
		return err
	}
	defer a.Close()
	if a.Config.JWTSecret == "" {
		fmt.Fprintf(stderr, "warning: %s is not set: this key's secret is not kept, so public tokens the trigger.dev SDK signs with it will not verify\n", config.EnvJWTSecret)
	}
	e, err := a.Store.EnsureEnvironment(ctx, *env)
	if err != nil {
		return err
	}
	key, err := a.Store.CreateAPIKey(ctx, e)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Created an API key for environment %q. Store it now: it is not shown again.\n%s\n", e.Name, key)
	return nil
}

func runKeysList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("keys list", "Lists API keys (id, prefix, environment, created, revoked); never their secrets.", stderr)
	env := fs.String("env", "", "only this environment")
	if err := parse(fs, args); err != nil {
		return err
	}
	a, err := open(ctx, config.NeedDatabase)
	if err != nil {
		return err
	}
	defer a.Close()
	keys, err := a.Store.ListAPIKeys(ctx, *env)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPREFIX\tENVIRONMENT\tCREATED\tREVOKED\tSDK TOKENS")
	for _, k := range keys {
		revoked := "-"
		if k.RevokedAt != nil {
			revoked = k.RevokedAt.UTC().Format(time.RFC3339)
		}
		sdk := "no"
		if k.Sealed {
			sdk = "yes"
		}
		fmt.Fprintf(tw, "%d\t%s…\t%s\t%s\t%s\t%s\n", k.ID, k.Prefix, k.Env, k.CreatedAt.UTC().Format(time.RFC3339), revoked, sdk)
	}
	return tw.Flush()
}

func runKeysRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("keys revoke ID", "Revokes an API key (see keys list): requests with it, and every public\ntoken it created or signed, are refused from now on.", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "keys revoke needs exactly one key ID (from keys list)")
		return errUsage
	}
	id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
	if err != nil || id < 1 {
		fmt.Fprintf(stderr, "keys revoke: %q is not a key ID (from keys list)\n", fs.Arg(0))
		return errUsage
	}
	a, err := open(ctx, config.NeedDatabase)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.Store.RevokeAPIKey(ctx, id); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no active key with ID %d", id)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Revoked key %d.\n", id)
	return nil
}
