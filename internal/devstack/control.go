package devstack

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/streambatch/streambatch/internal/proc"
)

// Names of the services, for Kill, StartService and Restart.
const (
	ServicePostgres = "postgres" // only when Start ran PostgreSQL (no DatabaseURL)
	ServiceS3       = "s3"
	ServiceTemporal = "temporal"
	ServiceUI       = "ui" // only with Options.UI
)

// service is one started service: its process, its address, and how to
// start it again.
type service struct {
	p     *proc.Process
	addr  string // host:port it listens on
	start startFunc
}

// startFunc starts a service on addr ("" for its usual port) and returns
// its process and where it listens (an address or URL).
type startFunc func(ctx context.Context, addr string) (*proc.Process, string, error)

// hostPort returns the host:port of a URL, or s itself when it is one.
func hostPort(s string) string {
	if strings.Contains(s, "://") {
		if u, err := url.Parse(s); err == nil {
			return u.Host
		}
	}
	return s
}

func (s *Stack) service(name string) (*service, error) {
	sv := s.services[name]
	if sv == nil {
		names := make([]string, 0, len(s.services))
		for n := range s.services {
			names = append(names, n)
		}
		slices.Sort(names)
		return nil, fmt.Errorf("devstack: no service %q in this stack (have %s)", name, strings.Join(names, ", "))
	}
	return sv, nil
}

// Kill ends one service abruptly, the way a machine crash would: SIGKILL
// to all of its processes at once (PostgreSQL's backends too, which leave
// the postmaster's process group), and it returns when they are gone. Its
// data and address are kept for StartService. Killing a service that is
// not running does nothing.
//
// Kill, StartService and Restart are for fault-injection tests; they must
// not run concurrently with each other or with Stop. A channel from Exited
// reports the killed process's exit like any other.
func (s *Stack) Kill(name string) error {
	sv, err := s.service(name)
	if err != nil {
		return err
	}
	if err := sv.p.KillTree(30 * time.Second); err != nil {
		return fmt.Errorf("devstack: kill %s: %w", name, err)
	}
	return nil
}

// StartService starts a service that was killed (or exited) again, with the
// same data folder or file and on the same address, so URLs handed out
// before (DatabaseURL, S3Endpoint, TemporalAddress) stay valid. PostgreSQL
// runs its crash recovery; it returns once the service accepts connections
// (PostgreSQL: once it answers a query). It fails when the service is still
// running or its address was taken meanwhile.
func (s *Stack) StartService(ctx context.Context, name string) error {
	sv, err := s.service(name)
	if err != nil {
		return err
	}
	if !sv.p.Exited() {
		return fmt.Errorf("devstack: %s is still running (pid %d)", name, sv.p.Pid())
	}
	p, _, err := sv.start(ctx, sv.addr)
	if err != nil {
		return fmt.Errorf("devstack: start %s again on %s: %w", name, sv.addr, err)
	}
	old := sv.p
	sv.p = p
	if k := slices.Index(s.children, old); k >= 0 {
		s.children[k] = p
	} else {
		s.children = append(s.children, p)
	}
	s.pids[name] = p.Pid()
	return nil
}

// Restart kills a service (SIGKILL) and starts it again at once, with the
// same data and address.
func (s *Stack) Restart(ctx context.Context, name string) error {
	if err := s.Kill(name); err != nil {
		return err
	}
	return s.StartService(ctx, name)
}

// Process returns a service's current process (nil for an unknown name).
func (s *Stack) Process(name string) *proc.Process {
	if sv := s.services[name]; sv != nil {
		return sv.p
	}
	return nil
}
