package testenv

import (
	"github.com/streambatch/streambatch/internal/proc"

	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
)

// SearchAttributeArgs registers streambatch's search attributes on a dev
// server.
var SearchAttributeArgs = []string{
	"--search-attribute", "BatchId=Keyword",
	"--search-attribute", "BatchState=Keyword",
	"--search-attribute", "BatchEnv=Keyword",
}

// StartTemporal starts a headless Temporal CLI dev server on a free port,
// logging to logDir/temporal.log. dbFile, when set, persists its state;
// dynamicConfig entries (KEY=VALUE) override the server's dynamic config.
func StartTemporal(ctx context.Context, logDir, dbFile string, dynamicConfig ...string) (*testsuite.DevServer, error) {
	bin, err := proc.TemporalCLI.Path()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(logDir, "temporal.log"))
	if err != nil {
		return nil, err
	}
	extra := append([]string(nil), SearchAttributeArgs...)
	for _, kv := range dynamicConfig {
		extra = append(extra, "--dynamic-config-value", kv)
	}
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:  bin,
		ClientOptions: &client.Options{Logger: log.NewStructuredLogger(discardLogger())},
		DBFilename:    dbFile,
		LogLevel:      "error",
		ExtraArgs:     extra,
		Stdout:        logf,
		Stderr:        logf,
	})
	if err != nil {
		return nil, fmt.Errorf("testenv: temporal dev server: %w", err)
	}
	return srv, nil
}

var _ io.Writer = (*os.File)(nil)
