package e2e

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/streambatch/streambatch/internal/proc"
)

// `streambatch dev` brings up the whole stack, prints its URLs and key, a
// curl-style Phase 1 + Phase 2 seals a batch that Temporal UI lists with its
// search attributes, and Ctrl-C stops every child.
func TestDevCommand(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	dir := t.TempDir()
	// As root, PostgreSQL runs as the user postgres, which must reach it.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	addr, err := proc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(s.bin, "dev", "--data-dir", filepath.Join(dir, "data"))
	cmd.Env = append(os.Environ(), "STREAMBATCH_HTTP_ADDR="+addr, "DATABASE_URL=", "S3_BUCKET=", "STREAMBATCH_JWT_SECRET=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logf, _ := os.Create(filepath.Join(dir, "dev.log"))
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	lines := map[string]string{}
	sc := bufio.NewScanner(stdout)
	deadline := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	for sc.Scan() && len(lines) < 3 {
		if k, v, ok := strings.Cut(sc.Text(), ": "); ok && (k == "API" || k == "Temporal UI" || k == "API key") {
			lines[k] = v
		}
	}
	deadline.Stop()
	if len(lines) != 3 {
		log, _ := os.ReadFile(filepath.Join(dir, "dev.log"))
		t.Fatalf("dev printed %v\n%s", lines, log)
	}
	go func() { // keep draining stdout
		for sc.Scan() {
		}
	}()
	base := lines["API"]
	key := lines["API key"]

	// Phase 1 and Phase 2 as curl would send them.
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v3/batches", strings.NewReader(`{"runCount":3}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	var created createResp
	doJSON(t, req, http.StatusAccepted, &created)
	req, _ = http.NewRequest(http.MethodPost, base+"/api/v3/batches/"+created.ID+"/items", strings.NewReader(string(ndjson(simpleItems(3)))))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/x-ndjson")
	var streamed streamResp
	doJSON(t, req, http.StatusOK, &streamed)
	if !streamed.Sealed {
		t.Fatalf("not sealed: %+v", streamed)
	}

	// The UI answers, and its API lists the workflow with its attributes.
	ui := lines["Temporal UI"]
	req, _ = http.NewRequest(http.MethodGet, ui+"/", nil)
	doJSON(t, req, http.StatusOK, nil)
	req, _ = http.NewRequest(http.MethodGet, ui+"/api/v1/namespaces/default/workflows?query="+urlQuery(`BatchId="`+created.ID+`" AND WorkflowType="BatchIngest"`), nil)
	var listed struct {
		Executions []struct {
			Execution        struct{ WorkflowID string } `json:"execution"`
			SearchAttributes struct {
				IndexedFields map[string]struct{ Data string } `json:"indexedFields"`
			} `json:"searchAttributes"`
		} `json:"executions"`
	}
	doJSON(t, req, http.StatusOK, &listed)
	if len(listed.Executions) != 1 || listed.Executions[0].Execution.WorkflowID != created.ID {
		t.Fatalf("UI lists %+v", listed)
	}
	state, _ := base64.StdEncoding.DecodeString(listed.Executions[0].SearchAttributes.IndexedFields["BatchState"].Data)
	if string(state) != `"SEALED"` {
		t.Fatalf("BatchState = %s", state)
	}

	// Ctrl-C: the command exits cleanly and its services stop listening.
	uiAddr := strings.TrimPrefix(ui, "http://")
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("dev exited with %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("dev did not stop within 60 s of SIGINT")
	}
	for _, a := range []string{strings.TrimPrefix(base, "http://"), uiAddr} {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Fatalf("%s still listening after dev stopped", a)
		}
	}
}

func doJSON(t *testing.T, req *http.Request, status int, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != status {
		t.Fatalf("%s %s: %d, want %d", req.Method, req.URL, resp.StatusCode, status)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
}

func urlQuery(q string) string {
	r := strings.NewReplacer(" ", "%20", `"`, "%22", "=", "%3D")
	return r.Replace(q)
}
