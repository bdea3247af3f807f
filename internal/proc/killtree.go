package proc

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// KillTree ends the process the way a machine crash would: at once, with
// every process it started, including those that left its process group
// (PostgreSQL's backends call setsid, so Kill, which signals the group,
// leaves them running until they notice their postmaster is gone). The
// group is stopped first (SIGSTOP) so that it cannot start more processes,
// its descendants are read from /proc, and then all of them get SIGKILL.
// It returns once the process has exited and every descendant is gone (or
// a zombie: its memory is released), or with an error after timeout.
func (p *Process) KillTree(timeout time.Duration) error {
	pid := p.Pid()
	_ = syscall.Kill(-pid, syscall.SIGSTOP)
	victims := descendants(pid)
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	for _, d := range victims {
		_ = syscall.Kill(d, syscall.SIGKILL)
	}
	deadline := time.After(timeout)
	select {
	case <-p.done:
	case <-deadline:
		return fmt.Errorf("proc: %s (pid %d) still running after SIGKILL", p.cmd.Path, pid)
	}
	for _, d := range victims {
		for alive(d) {
			select {
			case <-deadline:
				return fmt.Errorf("proc: pid %d (a child of %s) still running after SIGKILL", d, p.cmd.Path)
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	return nil
}

// descendants returns the ids of every process below pid, from /proc.
func descendants(pid int) []int {
	children := map[int][]int{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		child, ppid, _, ok := readStat(f)
		if ok {
			children[ppid] = append(children[ppid], child)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		next := queue[0]
		queue = queue[1:]
		for _, c := range children[next] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	_, _, state, ok := readStat(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	return ok && state != 'Z' && state != 'X'
}

// readStat reads a /proc/<pid>/stat file: "pid (comm) state ppid …",
// where comm may hold spaces and parentheses.
func readStat(path string) (pid, ppid int, state byte, ok bool) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, 0, false
	}
	open, end := bytes.IndexByte(raw, '('), bytes.LastIndexByte(raw, ')')
	if open < 0 || end < open {
		return 0, 0, 0, false
	}
	pid, err = strconv.Atoi(string(bytes.TrimSpace(raw[:open])))
	if err != nil {
		return 0, 0, 0, false
	}
	fields := bytes.Fields(raw[end+1:])
	if len(fields) < 2 || len(fields[0]) != 1 {
		return 0, 0, 0, false
	}
	ppid, err = strconv.Atoi(string(fields[1]))
	if err != nil {
		return 0, 0, 0, false
	}
	return pid, ppid, fields[0][0], true
}
