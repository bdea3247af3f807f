// Package versitygw runs versitygw, the S3 server of the dev stack, the
// tests and the benchmark, as a child process on loopback with its posix
// backend in a folder: objects are files under <Dir>/<bucket>/<key>. It
// starts and stops the server; it must not know who uses it (the callers
// pick the folder, the log file, the address and the credentials).
package versitygw

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/streambatch/streambatch/internal/proc"
)

// Options configure New.
type Options struct {
	// Dir is the posix backend folder (created if needed).
	Dir string
	// Addr is the host:port to listen on; "" picks a free loopback port.
	Addr string
	// Log is the file that receives the server's output (appended to).
	Log string
	// AccessKey and SecretKey are the only credentials it accepts.
	AccessKey, SecretKey string
	// Region is the region it reports (default us-east-1).
	Region string
}

// Server is a versitygw server, running or not: Start starts it on its
// address and folder, again after Stop.
type Server struct {
	Endpoint  string // http://host:port
	Addr      string // host:port
	AccessKey string
	SecretKey string
	Region    string
	Dir       string // backend folder
	log       string
	child     *proc.Process
}

// New settles the server's address (a free one when opts.Addr is empty)
// without starting it.
func New(opts Options) (*Server, error) {
	if opts.Addr == "" {
		addr, err := proc.FreeAddr()
		if err != nil {
			return nil, err
		}
		opts.Addr = addr
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	return &Server{Endpoint: "http://" + opts.Addr, Addr: opts.Addr, AccessKey: opts.AccessKey, SecretKey: opts.SecretKey,
		Region: opts.Region, Dir: opts.Dir, log: opts.Log}, nil
}

// Start is New followed by Server.Start.
func Start(ctx context.Context, opts Options) (*Server, error) {
	s, err := New(opts)
	if err != nil {
		return nil, err
	}
	return s, s.Start(ctx)
}

// Start starts the server on its address and folder, which serves the
// data of earlier runs, and returns once the child itself listens (not
// another process on the same port: proc.WaitListening).
func (s *Server) Start(ctx context.Context) error {
	bin, err := proc.VersityGW.Path()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return err
	}
	p, err := proc.Start(proc.Spec{Path: bin, Log: s.log,
		Args: []string{"--port", s.Addr, "--access", s.AccessKey, "--secret", s.SecretKey, "--region", s.Region,
			"--health", "/health", "--quiet", "posix", s.Dir}})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := p.WaitListening(ctx, s.Addr); err != nil {
		p.Stop(5 * time.Second)
		return fmt.Errorf("versitygw: %w", err)
	}
	s.child = p
	return nil
}

// Process is the server's child process (nil before Start and after Stop).
func (s *Server) Process() *proc.Process { return s.child }

// Stop stops the server (SIGTERM, then SIGKILL after 5 s).
func (s *Server) Stop() {
	if s.child != nil {
		s.child.Stop(5 * time.Second)
		s.child = nil
	}
}
