// Package temporalserver runs the real Temporal server
// (go.temporal.io/server at the version behind the pinned CLI) as a child
// process: frontend, history, matching and worker services in one process,
// persisting in two PostgreSQL databases it creates (and, for tests, drops)
// with SQL visibility, their schema applied with temporal-sql-tool as
// Temporal's admin-tools image does.
// Unlike the CLI dev server it registers no search attributes and makes
// new ones usable only after its caches refresh: it behaves as a cluster
// does in production. The production-topology tests and the benchmark's
// scale-out runs use it. It starts and stops the server; it must not know
// who uses it.
package temporalserver

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
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/streambatch/streambatch/internal/proc"
)

// Options configure Start.
type Options struct {
	// Dir receives the configuration, the server's log (temporal-server.log)
	// and the schema tool's (schema.log).
	Dir string
	// Postgres is the URL of a database on the PostgreSQL server that
	// keeps the server's two databases
	// (postgres://user[:password]@host:port/name).
	Postgres string
	// Databases names them: Databases and Databases+"_visibility", dropped
	// if they exist and created empty at every Start.
	Databases string
	// DropDatabases drops them again at Stop (tests).
	DropDatabases bool
	// HistoryShards is persistence.numHistoryShards (default 4, as in
	// Temporal's development configuration; fixed for a cluster's life).
	HistoryShards int
	// Namespace is created with one day of retention (default "default").
	Namespace string
}

// Server is a running Temporal server.
type Server struct {
	addr  string
	child *proc.Process
	drop  []string // databases Stop drops (Options.DropDatabases)
	pg    string   // Options.Postgres
}

// Start creates both databases, applies the schema to them, starts the
// server on free loopback ports and returns once the namespace exists.
// ctx bounds the start-up only.
func Start(ctx context.Context, opts Options) (_ *Server, err error) {
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
	if err := os.MkdirAll(filepath.Join(opts.Dir, "config"), 0o755); err != nil {
		return nil, err
	}
	s := &Server{pg: opts.Postgres}
	defer func() {
		if err != nil {
			_ = s.Stop()
		}
	}()
	cfg := serverConfig{Shards: opts.HistoryShards}
	for _, store := range []struct {
		name   string
		dsn    *dsn
		schema string
	}{{opts.Databases, &cfg.Default, SchemaDefault}, {opts.Databases + "_visibility", &cfg.Visibility, SchemaVisibility}} {
		u, err := recreateDatabase(ctx, opts.Postgres, store.name)
		if err != nil {
			return nil, err
		}
		if opts.DropDatabases {
			s.drop = append(s.drop, store.name)
		}
		if *store.dsn, err = parseDSN(u); err != nil {
			return nil, err
		}
		if err := applySchema(ctx, sqlTool, filepath.Join(opts.Dir, "schema.log"), *store.dsn, store.schema); err != nil {
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
	if err := writeConfig(filepath.Join(opts.Dir, "config", "development.yaml"), cfg); err != nil {
		return nil, err
	}
	s.addr = fmt.Sprintf("127.0.0.1:%d", cfg.Frontend)
	logPath := filepath.Join(opts.Dir, "temporal-server.log")
	s.child, err = proc.StartProcess(logPath, nil, serverBin,
		"--root", opts.Dir, "--config", "config", "--env", "development", "--allow-no-auth", "start")
	if err != nil {
		return nil, err
	}
	if err := s.createNamespace(ctx, opts.Namespace); err != nil {
		return nil, fmt.Errorf("temporalserver (log: %s): %w", logPath, err)
	}
	return s, nil
}

// FrontendHostPort is the frontend's gRPC address.
func (s *Server) FrontendHostPort() string { return s.addr }

// Process is the server's child process.
func (s *Server) Process() *proc.Process { return s.child }

// Stop stops the server (SIGTERM, then SIGKILL after 15 s), then drops
// its databases when Options.DropDatabases asked for it.
func (s *Server) Stop() error {
	if s.child != nil {
		s.child.Stop(15 * time.Second)
		s.child = nil
	}
	var errs []error
	for _, name := range s.drop {
		errs = append(errs, dropDatabase(context.Background(), s.pg, name))
	}
	s.drop = nil
	return errors.Join(errs...)
}

// recreateDatabase drops and creates the database name on the server of
// pgURL and returns its URL.
func recreateDatabase(ctx context.Context, pgURL, name string) (string, error) {
	if err := dropDatabase(ctx, pgURL, name); err != nil {
		return "", err
	}
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("temporalserver: create %s: %w", name, err)
	}
	u, err := url.Parse(pgURL)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	u.RawQuery = ""
	return u.String(), nil
}

// dropDatabase drops the database name on the server of pgURL, if it
// exists, closing its connections.
func dropDatabase(ctx context.Context, pgURL, name string) error {
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("temporalserver: drop %s: %w", name, err)
	}
	return nil
}

// createNamespace registers the namespace once the frontend answers (the
// server needs a few seconds to start its services and join membership).
func (s *Server) createNamespace(ctx context.Context, namespace string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	nc, err := client.NewNamespaceClient(client.Options{HostPort: s.addr, Logger: log.NewStructuredLogger(discard)})
	if err != nil {
		return err
	}
	defer nc.Close()
	for {
		err := nc.Register(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace:                        namespace,
			WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
		})
		var exists *serviceerror.NamespaceAlreadyExists
		if err == nil || errors.As(err, &exists) {
			return nil
		}
		select {
		case <-ctx.Done():
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
			return nil, errors.New("temporalserver: no free loopback port below 32768")
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
	if err != nil || u.Host == "" || len(u.Path) < 2 {
		return dsn{}, fmt.Errorf("temporalserver: want postgres://user@host:port/database, got %q", raw)
	}
	d := dsn{Host: u.Hostname(), Port: u.Port(), User: u.User.Username(), Database: strings.TrimPrefix(u.Path, "/")}
	d.Password, _ = u.User.Password()
	if d.Port == "" {
		d.Port = "5432"
	}
	return d, nil
}

// The schemas embedded in temporal-sql-tool that the two databases get.
const (
	SchemaDefault    = "postgresql/v12/temporal"
	SchemaVisibility = "postgresql/v12/visibility"
)

// SchemaSteps are the temporal-sql-tool commands that set up a database
// with an embedded schema, after the connection flags (docker-compose.yml's
// schema job runs the same).
func SchemaSteps(schema string) [][]string {
	return [][]string{{"setup-schema", "-v", "0.0"}, {"update-schema", "--schema-name", schema}}
}

// applySchema runs temporal-sql-tool setup-schema and update-schema with
// the schema embedded in the tool, as the admin-tools image does.
func applySchema(ctx context.Context, sqlTool, logPath string, d dsn, schema string) error {
	base := []string{"--plugin", "postgres12", "--ep", d.Host, "-p", d.Port, "-u", d.User, "--db", d.Database}
	if d.Password != "" {
		base = append(base, "--pw", d.Password)
	}
	for _, step := range SchemaSteps(schema) {
		out, err := exec.CommandContext(ctx, sqlTool, append(base, step...)...).CombinedOutput()
		appendFile(logPath, out)
		if err != nil {
			return fmt.Errorf("temporalserver: temporal-sql-tool %s on %s: %w (log: %s)", step[0], d.Database, err, logPath)
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
