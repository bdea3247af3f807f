// Command streambatch is the one binary of streambatch: the HTTP API
// (serve), the Temporal worker (worker), database migrations (migrate) and
// API key management (keys). Configuration comes from the environment; see
// the README's configuration table. The benchmark is not in it: it is the
// command streambatch-bench (cmd/streambatch-bench).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gin-gonic/gin"
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"dev", "run a complete local stack (PostgreSQL, S3, Temporal + UI, API, worker)", runDev},
		{"serve", "run the HTTP API", runServe},
		{"worker", "run the Temporal worker (BatchIngest and its activities)", runWorker},
		{"migrate", "apply database migrations and exit", runMigrate},
		{"codec-server", "serve Temporal's codec endpoint, so Temporal UI shows encrypted payloads", runCodecServer},
		{"payload-key", "print a new key for STREAMBATCH_PAYLOAD_KEYS", runPayloadKey},
		{"keys", "manage API keys: keys create --env NAME", runKeys},
		{"push", "create a batch from an NDJSON file and stream it, with progress", runPush},
		{"healthcheck", "exit 0 when the local API is ready (for container health checks)", runHealthcheck},
	}
}

func main() {
	gin.SetMode(gin.ReleaseMode)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and returns the exit code: 0 success,
// 1 failure, 2 usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "bench" {
		fmt.Fprintln(stderr, benchMoved)
		return 2
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		var exit *exitError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &exit):
			fmt.Fprintf(stderr, "streambatch %s: %v\n", c.name, err)
			return exit.code
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		}
		fmt.Fprintf(stderr, "streambatch %s: %v\n", c.name, err)
		return 1
	}
	fmt.Fprintf(stderr, "streambatch: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

// benchMoved answers `streambatch bench`: the benchmark is its own command,
// so that the production binary does not carry it.
const benchMoved = `streambatch bench is now its own command, streambatch-bench, with the same flags:
  go build -o bin/streambatch ./cmd/streambatch
  go build -o bin/streambatch-bench ./cmd/streambatch-bench
  ./bin/streambatch-bench --scenario all --s3-latency 0ms,50ms,200ms
(see docs/performance.md)`

// errUsage marks an error already reported with usage text.
var errUsage = errors.New("usage")

func usage(w io.Writer) {
	fmt.Fprintln(w, "streambatch ingests huge batches of task runs over HTTP (trigger.dev v3 batch API).")
	fmt.Fprintln(w, "\nUsage: streambatch <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nConfiguration is read from environment variables (DATABASE_URL, TEMPORAL_ADDRESS, S3_BUCKET, ...);")
	fmt.Fprintln(w, "see the README. Run 'streambatch <command> --help' for a command's flags.")
}

// newFlags returns a FlagSet whose usage names the command.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: streambatch %s\n\n%s\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags, mapping failures to errUsage (already printed).
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %v\n", fs.Args())
		fs.Usage()
		return errUsage
	}
	return nil
}
