package proc

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// WaitListening waits until the process, or a process it started, has a
// TCP socket listening on addr's port, and fails when the process exits
// first or ctx ends. Unlike WaitTCP it cannot be fooled by another process
// that already listens there (the child then exits: address in use).
func (p *Process) WaitListening(ctx context.Context, addr string) error {
	_, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return err
	}
	return p.waitUntil(ctx, addr, func() bool { return p.listens(port) })
}

// listens reports whether a LISTEN socket on port belongs to the process
// or one of its descendants (Linux: /proc/net/tcp{,6} and /proc/<pid>/fd).
func (p *Process) listens(port int) bool {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		raw, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(raw), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) < 10 || fields[3] != "0A" { // 0A: LISTEN
				continue
			}
			_, hexPort, _ := strings.Cut(fields[1], ":")
			if n, err := strconv.ParseInt(hexPort, 16, 32); err == nil && int(n) == port {
				inodes["socket:["+fields[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return false
	}
	for _, pid := range append([]int{p.Pid()}, descendants(p.Pid())...) {
		fds, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "fd", "*"))
		for _, fd := range fds {
			if target, err := os.Readlink(fd); err == nil && inodes[target] {
				return true
			}
		}
	}
	return false
}
