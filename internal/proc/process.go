package proc

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Spec describes a child process.
type Spec struct {
	Path string
	Args []string
	// Env is the child's environment; nil means this process's.
	Env []string
	// Dir is the working directory ("" = this process's).
	Dir string
	// Log receives stdout and stderr.
	Log string
	// Credential runs the child as another user (nil = this one).
	Credential *syscall.Credential
	// StopSignal asks the child to stop (default SIGTERM).
	StopSignal syscall.Signal
}

// Process is a child process that dies with its parent.
type Process struct {
	cmd  *exec.Cmd
	spec Spec
	done chan struct{}
	err  error
	// Log is the file that receives the child's output.
	Log string
}

// Start starts a child in its own process group, with SIGKILL as its
// parent-death signal, so that no child outlives streambatch or a test.
func Start(spec Spec) (*Process, error) {
	logf, err := os.OpenFile(spec.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Env, cmd.Dir = spec.Env, spec.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: spec.Credential}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", spec.Path, err)
	}
	if spec.StopSignal == 0 {
		spec.StopSignal = syscall.SIGTERM
	}
	p := &Process{cmd: cmd, spec: spec, done: make(chan struct{}), Log: spec.Log}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// StartProcess starts path with args and env (nil: this process's),
// logging to logPath; a shorthand for Start.
func StartProcess(logPath string, env []string, path string, args ...string) (*Process, error) {
	return Start(Spec{Path: path, Args: args, Env: env, Log: logPath})
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Kill sends SIGKILL to the process group and waits for the exit.
func (p *Process) Kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// Stop sends the stop signal to the process group and waits up to timeout
// before killing it.
func (p *Process) Stop(timeout time.Duration) {
	_ = syscall.Kill(-p.cmd.Process.Pid, p.spec.StopSignal)
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.Kill()
	}
}

// WaitTCP waits until addr accepts connections, the process exits or ctx
// ends.
func (p *Process) WaitTCP(ctx context.Context, addr string) error {
	return p.waitUntil(ctx, addr, func() bool {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// waitUntil polls ready every 20 ms until it holds, the process exits
// (an error with the tail of its log) or ctx ends; addr names what is
// awaited in the errors.
func (p *Process) waitUntil(ctx context.Context, addr string, ready func() bool) error {
	for !ready() {
		select {
		case <-p.done:
			log, _ := os.ReadFile(p.Log)
			return fmt.Errorf("%s exited before listening on %s: %v\n%s", p.cmd.Path, addr, p.err, tail(log, 2000))
		case <-ctx.Done():
			return fmt.Errorf("%s not listening on %s: %w", p.cmd.Path, addr, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
