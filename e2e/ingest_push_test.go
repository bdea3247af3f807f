package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// push runs `streambatch push` with args against the stack.
func (s *stack) push(t *testing.T, key string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(s.bin, append([]string{"push", "--url", s.URL, "--key", key}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

var batchIDRE = regexp.MustCompile(`batch (batch_[a-z0-9]+) sealed`)

func TestPushCommand(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	_, key := s.newKey(t)
	dir := t.TempDir()

	// Item lines (index from the position; one with its own options).
	items := simpleItems(3000)
	items[7].Options = map[string]any{"tags": []string{"seven"}}
	objects := filepath.Join(dir, "items.ndjson")
	if err := os.WriteFile(objects, ndjson(items), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := s.push(t, key, objects)
	m := batchIDRE.FindStringSubmatch(out)
	if code != 0 || m == nil || !strings.Contains(out, "3000 items accepted") {
		t.Fatalf("push: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := len(s.runs(t, key, m[1])); got != 3000 {
		t.Fatalf("%d runs", got)
	}

	// Plain JSON lines wrapped with --task, from stdin.
	var plain bytes.Buffer
	for i := range 500 {
		fmt.Fprintf(&plain, "{\"user\":%d}\n\n", i) // blank lines are skipped
	}
	cmd := exec.Command(s.bin, "push", "--url", s.URL, "--key", key, "--task", "welcome", "-")
	cmd.Stdin = &plain
	raw, err := cmd.CombinedOutput()
	m = batchIDRE.FindStringSubmatch(string(raw))
	if err != nil || m == nil {
		t.Fatalf("push --task -: %v\n%s", err, raw)
	}
	runs := s.runs(t, key, m[1])
	if len(runs) != 500 || runs[499].Task != "welcome" || *runs[499].Payload != `{"user":499}` {
		t.Fatalf("%d runs, last %+v", len(runs), runs[len(runs)-1])
	}

	// Bad input and bad usage have their own exit codes.
	bad := filepath.Join(dir, "bad.ndjson")
	os.WriteFile(bad, []byte("{\"task\":\"t\"}\nnot json\n"), 0o644)
	if _, errOut, code := s.push(t, key, bad); code != 1 || !strings.Contains(errOut, "line 2 is not valid JSON") {
		t.Fatalf("bad file: exit %d %s", code, errOut)
	}
	if _, _, code := s.push(t, key); code != 2 {
		t.Fatalf("no file: exit %d", code)
	}
	if _, errOut, code := s.push(t, "sb_wrong", objects); code != 1 || !strings.Contains(errOut, "401") {
		t.Fatalf("wrong key: exit %d %s", code, errOut)
	}
}

// Under a pseudo-terminal push draws a moving progress bar.
func TestPushProgressBarOnATerminal(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("util-linux script is not installed")
	}
	_, key := s.newKey(t)
	file := filepath.Join(t.TempDir(), "big.ndjson")
	var b bytes.Buffer
	for i := range 100_000 {
		fmt.Fprintf(&b, "{\"task\":\"t\",\"payload\":\"item %d padded to look like a real payload ........\"}\n", i)
	}
	os.WriteFile(file, b.Bytes(), 0o644)
	cmd := exec.Command(script, "-qfec", fmt.Sprintf("%s push --url %s --key %s %s", s.bin, s.URL, key, file), "/dev/null")
	raw, err := cmd.CombinedOutput()
	out := string(raw)
	if err != nil || !strings.Contains(out, "sealed: 100000 items accepted") {
		t.Fatalf("push under a terminal: %v\n%s", err, tail(out, 2000))
	}
	draws := strings.Count(out, "\r\x1b[K[")
	if draws < 2 || !strings.Contains(out, "100% 100000/100000 items") || !strings.Contains(out, "items/s") || !strings.Contains(out, "ETA") {
		t.Fatalf("%d bar draws:\n%q", draws, tail(out, 600))
	}
	t.Logf("progress bar drawn %d times; last: %q", draws, tail(out[:strings.LastIndex(out, "\r\x1b[K[")+120], 120))
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// push --wait follows the runs on a real task worker: exit 0 when every run
// completed, 4 when some failed, with the counts in its last line.
func TestPushWait(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	startTaskWorker(t, s, env)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.ndjson")
	os.WriteFile(good, []byte(`{"task":"echo","payload":{"n":1}}`+"\n"+`{"task":"echo","payload":{"n":2}}`+"\n"), 0o644)
	out, errOut, code := s.push(t, key, "--wait", good)
	if code != 0 || !strings.Contains(out, "COMPLETED") || !strings.Contains(out, "2 completed") || !strings.Contains(errOut, "runs finished") {
		t.Fatalf("push --wait: exit %d\n%s\n%s", code, out, errOut)
	}
	bad := filepath.Join(dir, "bad.ndjson")
	os.WriteFile(bad, []byte(`{"task":"echo","payload":{"n":1}}`+"\n"+`{"task":"broken","payload":{"n":2},"options":{"maxAttempts":1}}`+"\n"), 0o644)
	out, errOut, code = s.push(t, key, "--wait", bad)
	if code != 4 || !strings.Contains(out, "1 completed, 1 failed") {
		t.Fatalf("push --wait with a failing run: exit %d\n%s\n%s", code, out, errOut)
	}
}
