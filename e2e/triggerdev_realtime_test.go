package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/tasks"
)

// registerGatedTask registers task "gated" on w: a run of it executes until
// its metadata says {"release": true} (the realtime tests set it through
// the SDK's run metadata route, once their subscribers have seen the run
// EXECUTING), then returns {"released": <index>}. It heartbeats, so a
// cancelled run ends too.
func registerGatedTask(w sdkworker.Worker, s *stack) {
	tasks.RegisterRun(w, "gated", func(ctx context.Context, run *tasks.Run) (map[string]any, error) {
		for {
			activity.RecordHeartbeat(ctx)
			r, err := s.app.Store.GetRun(ctx, run.BatchID, run.Index)
			if err != nil {
				return nil, err
			}
			var meta struct {
				Release bool `json:"release"`
			}
			if m := batch.StoredItemOptions(r.Options).Metadata; len(m) > 0 {
				_ = json.NewDecoder(bytes.NewReader(m)).Decode(&meta)
			}
			if meta.Release {
				return map[string]any{"released": run.Index}, nil
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}

// runReactRealtime runs compat/triggerdev/react (node --test): the React
// hooks of the SDK's version in headless Chromium follow a batch of gated
// runs through COMPLETED. Chromium is found as STREAMBATCH_CHROMIUM or
// chromium on PATH; without it the test fails, naming the package.
func runReactRealtime(t *testing.T, s *stack, node, suite string) {
	t.Helper()
	browser := os.Getenv("STREAMBATCH_CHROMIUM")
	if browser == "" {
		var err error
		if browser, err = exec.LookPath("chromium"); err != nil {
			t.Fatalf("chromium not found on PATH: %v; install it (apt-get install chromium) or set STREAMBATCH_CHROMIUM", err)
		}
	}
	execEnv, execKey := s.newKey(t)
	startTaskWorker(t, s, execEnv)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TRIGGER_") {
			env = append(env, kv)
		}
	}
	env = append(env, "STREAMBATCH_URL="+s.URL, "STREAMBATCH_EXEC_API_KEY="+execKey, "STREAMBATCH_CHROMIUM="+browser, "NO_COLOR=1")
	start := time.Now()
	out, err := runTool(t, suite, 4*time.Minute, env, node, "--test", "--test-reporter=spec", filepath.Join(suite, "react", "realtime.test.js"))
	t.Logf("node --test react/realtime.test.js (%s):\n%s", time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("React hooks in Chromium: %v", err)
	}
	if !regexp.MustCompile(`REALTIME_LATENCY_MS useRealtimeBatch`).Match(out) {
		t.Fatal("the React test printed no latency: did it run?")
	}
}
