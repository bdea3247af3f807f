package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Tasks can be written outside Go: compat/taskworker-ts, a task worker on
// the Temporal TypeScript SDK (pinned in its package.json), executes a
// batch's runs: plain payloads, a 600 KiB payload stored in S3 fetched
// through payloadUrl, an 8 KiB payload sent by reference (resolved before
// the task runs, out of BatchRuns' history) beside a 1 KiB one inline, and
// a task that fails its first attempt.
func TestTypeScriptTaskWorker(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	node, npm := requireNode(t)
	dir, err := filepath.Abs(filepath.Join("..", "compat", "taskworker-ts"))
	if err != nil {
		t.Fatal(err)
	}
	npmInstall(t, npm, dir)
	if out, err := runTool(t, dir, 2*time.Minute, nil, node, filepath.Join("node_modules", "typescript", "bin", "tsc"), "-p", "."); err != nil {
		t.Fatalf("tsc: %v\n%s", err, out)
	}
	env, key := s.newKey(t)
	startNodeWorker(t, node, dir, env)

	stored := strings.Repeat("t", 600<<10)
	const n = 22
	byRef, inline := randomText(20, 8<<10), randomText(21, 1<<10)
	var body bytes.Buffer
	for i := range n {
		switch {
		case i == 0:
			fmt.Fprintf(&body, `{"index":0,"task":"checksum","payload":%q}`+"\n", stored)
		case i == 20 || i == 21:
			fmt.Fprintf(&body, `{"index":%d,"task":"checksum","payload":{"data":%q}}`+"\n", i, map[int]string{20: byRef, 21: inline}[i])
		case i%4 == 1:
			fmt.Fprintf(&body, `{"index":%d,"task":"flaky"}`+"\n", i)
		default:
			fmt.Fprintf(&body, `{"index":%d,"task":"hello","payload":{"name":"n%d"}}`+"\n", i, i)
		}
	}
	id := s.mustCreate(t, key, n)
	if code, _, raw := s.stream(t, key, id, body.Bytes()); code != 200 {
		t.Fatalf("stream: %d %s", code, raw)
	}
	b := s.waitBatch(t, key, id, 2*time.Minute)
	if b.Status != "COMPLETED" || b.RunCounts["COMPLETED"] != n {
		t.Fatalf("batch %+v", b)
	}
	for _, r := range s.runs(t, key, id) {
		var out map[string]any
		if r.Output == nil || json.Unmarshal([]byte(*r.Output), &out) != nil {
			t.Fatalf("run %d output %v", r.Index, deref(r.Output))
		}
		switch {
		case r.Index == 0:
			if out["bytes"] != float64(len(stored)) || out["sha256"] != sha(stored) {
				t.Fatalf("checksum of the stored payload: %v", out)
			}
		case r.Index == 20 || r.Index == 21:
			// The task sees the payload as stored, with its own type, and
			// no reference.
			if p := deref(r.Payload); out["bytes"] != float64(len(p)) || out["sha256"] != sha(p) ||
				out["type"] != "application/json" || out["byRef"] != false {
				t.Fatalf("checksum of run %d's payload: %v", r.Index, out)
			}
		case r.Index%4 == 1:
			if out["attempt"] != float64(2) || r.Attempts != 2 {
				t.Fatalf("flaky run %d: output %v, attempts %d", r.Index, out, r.Attempts)
			}
		default:
			if out["greeting"] != fmt.Sprintf("hello, n%d", r.Index) || out["from"] != "typescript" {
				t.Fatalf("hello run %d: %v", r.Index, out)
			}
		}
	}
	checkByReference(t, s, id, 20, 21)
}

// startNodeWorker starts dist/worker.js for env and waits until it polls.
func startNodeWorker(t *testing.T, node, dir, env string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, "dist/worker.js")
	cmd.Dir = dir
	// The worker holds its environment's keys only (payload-key --env).
	cmd.Env = append(os.Environ(), "TEMPORAL_ADDRESS="+st.temporal.FrontendHostPort(), "STREAMBATCH_ENV="+env,
		"STREAMBATCH_PAYLOAD_KEYS="+envPayloadKeys(t, env))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("TypeScript worker stderr:\n%s", stderr.String())
		}
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ready:") {
				ready <- true
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("TypeScript worker exited before it was ready: %s", stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("TypeScript worker not ready after a minute: %s", stderr.String())
	}
}
