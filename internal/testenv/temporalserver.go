package testenv

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/streambatch/streambatch/internal/proc"
)

// TemporalServer is a real Temporal server (go.temporal.io/server at the
// version behind the pinned CLI): frontend, history, matching and worker
// services in one process, persisting in two PostgreSQL databases of the
// test server (SQL visibility), their schema applied with temporal-sql-tool
// as Temporal's images do. Unlike the dev server it does not register
// search attributes or make them usable at once: it behaves as a cluster
// does in production.
type TemporalServer struct {
	addr  string
	child *proc.Process
	drops []func()
}

// TemporalServerOptions tunes StartTemporalServer.
type TemporalServerOptions struct {
	// HistoryShards is persistence.numHistoryShards (default 4, as in
	// Temporal's development configuration; fixed for a cluster's life).
	HistoryShards int
	// Namespace is created with one day of retention (default "default").
	Namespace string
}

// StartTemporalServer creates the server's databases, applies the schema,
// starts it on free loopback ports with its configuration and log in dir,
// and returns once the namespace exists.
func StartTemporalServer(ctx context.Context, dir string, opts TemporalServerOptions) (_ *TemporalServer, err error) {
	if opts.HistoryShards == 0 {
		opts.HistoryShards = 4
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	serverBin, err := proc.TemporalServer.Path()
	if err != nil {
		return nil, err
	}
	sqlTool, err := proc.TemporalSQLTool.Path()
	if err != nil {
		return nil, err
	}
	s := &TemporalServer{}
	defer func() {
		if err != nil {
			_ = s.Stop()
		}
	}()
	if err := os.MkdirAll(filepath.Join(dir, "config"), 0o755); err != nil {
		return nil, err
	}
	cfg := serverConfig{Shards: opts.HistoryShards}
	for _, store := range []struct {
		dsn    *dsn
		schema string
	}{{&cfg.Default, "postgresql/v12/temporal"}, {&cfg.Visibility, "postgresql/v12/visibility"}} {
		dbURL, drop, err := CreateDatabase(ctx, "temporal")
		if err != nil {
			return nil, err
		}
		s.drops = append(s.drops, drop)
		if *store.dsn, err = parseDSN(dbURL); err != nil {
			return nil, err
		}
		if err := applySchema(ctx, sqlTool, filepath.Join(dir, "schema.log"), *store.dsn, store.schema); err != nil {
			return nil, err
		}
	}
	ports, err := lowPorts(9)
	if err != nil {
		return nil, err
	}
	cfg.Frontend, cfg.FrontendHTTP, cfg.FrontendMembership = ports[0], ports[1], ports[2]
	cfg.History, cfg.HistoryMembership = ports[3], ports[4]
	cfg.Matching, cfg.MatchingMembership = ports[5], ports[6]
	cfg.Worker, cfg.WorkerMembership = ports[7], ports[8]
	f, err := os.Create(filepath.Join(dir, "config", "development.yaml"))
	if err != nil {
		return nil, err
	}
	err = serverConfigTemplate.Execute(f, cfg)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	s.addr = fmt.Sprintf("127.0.0.1:%d", cfg.Frontend)
	s.child, err = proc.StartProcess(filepath.Join(dir, "temporal-server.log"), nil, serverBin,
		"--root", dir, "--config", "config", "--env", "development", "--allow-no-auth", "start")
	if err != nil {
		return nil, err
	}
	if err := s.createNamespace(ctx, opts.Namespace); err != nil {
		return nil, fmt.Errorf("testenv: temporal server (log: %s): %w", filepath.Join(dir, "temporal-server.log"), err)
	}
	return s, nil
}

// FrontendHostPort is the frontend's gRPC address.
func (s *TemporalServer) FrontendHostPort() string { return s.addr }

// Stop stops the server (SIGTERM, then SIGKILL) and drops its databases.
func (s *TemporalServer) Stop() error {
	if s.child != nil {
		s.child.Stop(15 * time.Second)
		s.child = nil
	}
	for _, drop := range s.drops {
		drop()
	}
	s.drops = nil
	return nil
}

// createNamespace registers the namespace once the frontend answers (the
// server needs a few seconds to start its services and join membership).
func (s *TemporalServer) createNamespace(ctx context.Context, namespace string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var nc client.NamespaceClient
	var err error
	for {
		if nc == nil {
			nc, err = client.NewNamespaceClient(client.Options{HostPort: s.addr, Logger: log.NewStructuredLogger(discardLogger())})
		}
		if err == nil {
			err = nc.Register(ctx, &workflowservice.RegisterNamespaceRequest{
				Namespace:                        namespace,
				WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
			})
			var exists *serviceerror.NamespaceAlreadyExists
			if err == nil || errors.As(err, &exists) {
				nc.Close()
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if nc != nil {
				nc.Close()
			}
			return fmt.Errorf("register namespace %q: %w", namespace, err)
		case <-s.child.Done():
			return errors.New("the server exited while starting")
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// lowPorts returns n distinct loopback ports that were free a moment ago,
// below 32768: the server stores its membership ports in a PostgreSQL
// smallint column, and the kernel's ephemeral ports lie above it.
func lowPorts(n int) ([]int, error) {
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000 {
			return nil, errors.New("testenv: no free loopback port below 32768")
		}
		p := 20000 + rand.IntN(12000)
		if slices.Contains(ports, p) {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		l.Close()
		ports = append(ports, p)
	}
	return ports, nil
}

// dsn is where one of the server's databases lives.
type dsn struct {
	Host, Port, User, Password, Database string
}

func parseDSN(raw string) (dsn, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return dsn{}, err
	}
	d := dsn{Host: u.Hostname(), Port: u.Port(), User: u.User.Username(), Database: strings.TrimPrefix(u.Path, "/")}
	d.Password, _ = u.User.Password()
	if d.Port == "" {
		d.Port = "5432"
	}
	return d, nil
}

// applySchema runs temporal-sql-tool setup-schema and update-schema with
// the schema embedded in the tool, as the admin-tools image does.
func applySchema(ctx context.Context, sqlTool, logPath string, d dsn, schema string) error {
	base := []string{"--plugin", "postgres12", "--ep", d.Host, "-p", d.Port, "-u", d.User, "--db", d.Database}
	if d.Password != "" {
		base = append(base, "--pw", d.Password)
	}
	for _, step := range [][]string{{"setup-schema", "-v", "0.0"}, {"update-schema", "--schema-name", schema}} {
		out, err := exec.CommandContext(ctx, sqlTool, append(base, step...)...).CombinedOutput()
		appendFile(logPath, out)
		if err != nil {
			return fmt.Errorf("testenv: temporal-sql-tool %s on %s: %w (log: %s)", step[0], d.Database, err, logPath)
		}
	}
	return nil
}

func appendFile(path string, data []byte) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.Write(data)
}

type serverConfig struct {
	Shards                       int
	Default, Visibility          dsn
	Frontend, FrontendHTTP       int
	FrontendMembership           int
	History, HistoryMembership   int
	Matching, MatchingMembership int
	Worker, WorkerMembership     int
}

// serverConfigTemplate is Temporal's development-postgres12.yaml reduced
// to what a test needs: no archival, no metrics listener, no pprof.
var serverConfigTemplate = template.Must(template.New("temporal").Parse(`log:
  stdout: true
  level: warn

persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: {{.Shards}}
  datastores:
    postgres-default:
      sql:
        pluginName: postgres12
        databaseName: "{{.Default.Database}}"
        connectAddr: "{{.Default.Host}}:{{.Default.Port}}"
        connectProtocol: tcp
        user: "{{.Default.User}}"
        password: "{{.Default.Password}}"
        maxConns: 20
        maxIdleConns: 20
        maxConnLifetime: 1h
    postgres-visibility:
      sql:
        pluginName: postgres12
        databaseName: "{{.Visibility.Database}}"
        connectAddr: "{{.Visibility.Host}}:{{.Visibility.Port}}"
        connectProtocol: tcp
        user: "{{.Visibility.User}}"
        password: "{{.Visibility.Password}}"
        maxConns: 4
        maxIdleConns: 4
        maxConnLifetime: 1h

global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: 127.0.0.1

services:
  frontend:
    rpc:
      grpcPort: {{.Frontend}}
      membershipPort: {{.FrontendMembership}}
      httpPort: {{.FrontendHTTP}}
      bindOnLocalHost: true
  matching:
    rpc:
      grpcPort: {{.Matching}}
      membershipPort: {{.MatchingMembership}}
      bindOnLocalHost: true
  history:
    rpc:
      grpcPort: {{.History}}
      membershipPort: {{.HistoryMembership}}
      bindOnLocalHost: true
  worker:
    rpc:
      grpcPort: {{.Worker}}
      membershipPort: {{.WorkerMembership}}
      bindOnLocalHost: true

clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: 127.0.0.1:{{.Frontend}}

dcRedirectionPolicy:
  policy: noop
`))
