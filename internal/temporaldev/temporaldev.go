// Package temporaldev runs the Temporal CLI dev server (`temporal server
// start-dev` of the pinned CLI) for the dev stack, the tests and the
// benchmark: a child process, headless, on loopback, with streambatch's
// search attributes registered (workflows/flow.SearchAttributes) and its
// state in a SQLite file or in memory. It starts and stops the server;
// it must not know who uses it (the callers pick the address, the log
// file, the database file and the dynamic config). The real Temporal
// server is package temporalserver.
package temporaldev

import (
	"context"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/streambatch/streambatch/internal/proc"
	"github.com/streambatch/streambatch/workflows/flow"
)

// Options configure Start.
type Options struct {
	// Addr is the frontend's host:port; "" picks a free loopback port.
	Addr string
	// DBFile keeps the server's state between runs ("" = in memory).
	DBFile string
	// Log is the file that receives the server's output (appended to).
	Log string
	// LogLevel is the server's log level (default warn).
	LogLevel string
	// DynamicConfig entries (KEY=VALUE) override the server's dynamic
	// config; frontend.enableServerVersionCheck is always false.
	DynamicConfig []string
}

// Server is a running dev server.
type Server struct {
	addr  string
	child *proc.Process
}

// Start starts the server and returns once the child itself listens on
// its address (not another process on the same port:
// proc.WaitListening) and its frontend reports itself healthy: a client
// dialled before that fails with "Frontend is not healthy yet".
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, err := proc.TemporalCLI.Path()
	if err != nil {
		return nil, err
	}
	if opts.Addr == "" {
		if opts.Addr, err = proc.FreeAddr(); err != nil {
			return nil, err
		}
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "warn"
	}
	host, port, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return nil, err
	}
	args := []string{"server", "start-dev", "--headless", "--ip", host, "--port", port, "--log-level", opts.LogLevel}
	for _, key := range flow.SearchAttributes {
		args = append(args, "--search-attribute", key.GetName()+"=Keyword")
	}
	for _, kv := range append([]string{"frontend.enableServerVersionCheck=false"}, opts.DynamicConfig...) {
		args = append(args, "--dynamic-config-value", kv)
	}
	if opts.DBFile != "" {
		args = append(args, "--db-filename", opts.DBFile)
	}
	p, err := proc.Start(proc.Spec{Path: bin, Log: opts.Log, Args: args})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := p.WaitListening(ctx, opts.Addr); err != nil {
		p.Stop(5 * time.Second)
		return nil, fmt.Errorf("temporaldev: %w", err)
	}
	if err := waitHealthy(ctx, opts.Addr); err != nil {
		p.Stop(5 * time.Second)
		return nil, fmt.Errorf("temporaldev: %w", err)
	}
	return &Server{addr: opts.Addr, child: p}, nil
}

// FrontendHostPort is the frontend's gRPC address.
func (s *Server) FrontendHostPort() string { return s.addr }

// Process is the server's child process.
func (s *Server) Process() *proc.Process { return s.child }

// Stop stops the server: SIGTERM, then SIGKILL after 10 s.
func (s *Server) Stop() error {
	s.child.Stop(10 * time.Second)
	return nil
}

// frontendService is the name the frontend answers gRPC health checks
// for (the SDK's Dial checks the same).
const frontendService = "temporal.api.workflowservice.v1.WorkflowService"

// waitHealthy polls the frontend's gRPC health check every 50 ms until it
// answers SERVING or ctx ends.
func waitHealthy(ctx context.Context, addr string) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		res, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: frontendService})
		if err == nil && res.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("status %s", res.GetStatus())
			}
			return fmt.Errorf("frontend on %s not healthy: %w", addr, err)
		case <-tick.C:
		}
	}
}
