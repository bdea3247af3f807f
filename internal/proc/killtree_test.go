package proc

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// KillTree also ends a grandchild that left the process group (as
// PostgreSQL's backends do with setsid), which Kill would leave running.
func TestKillTreeEndsProcessesThatLeftTheGroup(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("needs setsid(1)")
	}
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	p, err := StartProcess(filepath.Join(dir, "log"), nil, "/bin/sh", "-c", "setsid sleep 300 & echo $! > "+pidFile+"; wait")
	if err != nil {
		t.Fatal(err)
	}
	var escaped int
	for deadline := time.Now().Add(10 * time.Second); escaped == 0; {
		raw, _ := os.ReadFile(pidFile)
		escaped, _ = strconv.Atoi(strings.TrimSpace(string(raw)))
		if time.Now().After(deadline) {
			p.Kill()
			t.Fatal("the child did not report its pid")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Wait until it has left the group (setsid has run).
	for deadline := time.Now().Add(10 * time.Second); ; {
		raw, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(escaped), "stat"))
		if f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:])); len(f) > 3 && f[3] == strconv.Itoa(escaped) {
			break
		}
		if time.Now().After(deadline) {
			p.Kill()
			t.Fatal("the grandchild did not leave the process group")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.KillTree(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if alive(escaped) {
		t.Fatalf("pid %d survived KillTree", escaped)
	}
}
