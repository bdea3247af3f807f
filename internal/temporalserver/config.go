package temporalserver

import (
	"io"
	"log/slog"
	"os"
	"text/template"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

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

func writeConfig(path string, cfg serverConfig) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = serverConfigTemplate.Execute(f, cfg)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
