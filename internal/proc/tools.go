package proc

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// A Tool is a pinned helper binary, installed by `make tools` as
// <ToolsDir>/<Name>-<Version> (`go install <Package>@<Version>`).
type Tool struct {
	Name    string // binary name, e.g. "temporal"
	Package string // go install path
	Version string
}

// The pinned tools. The Makefile installs exactly these (a test checks).
var (
	TemporalCLI = Tool{"temporal", "github.com/temporalio/cli/cmd/temporal", "v1.5.1"}
	VersityGW   = Tool{"versitygw", "github.com/versity/versitygw/cmd/versitygw", "v1.8.0"}
	UIServer    = Tool{"temporal-ui-server", "github.com/temporalio/ui-server/v2/cmd/server", "v2.55.0"}
	// TemporalServer and TemporalSQLTool are the real server behind the
	// pinned CLI and its schema tool, for the production-topology tests.
	TemporalServer  = Tool{"temporal-server", "go.temporal.io/server/cmd/server", "v1.29.1"}
	TemporalSQLTool = Tool{"temporal-sql-tool", "go.temporal.io/server/cmd/tools/sql", "v1.29.1"}
	// SQLC generates internal/store/internal/db (make sqlc; make vet checks it).
	SQLC = Tool{"sqlc", "github.com/sqlc-dev/sqlc/cmd/sqlc", "v1.31.1"}
)

// ToolsDir is where `make tools` installs: STREAMBATCH_TOOLS_DIR, else
// ~/.cache/streambatch/tools.
func ToolsDir() string {
	if d := os.Getenv("STREAMBATCH_TOOLS_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "streambatch-tools")
	}
	return filepath.Join(home, ".cache", "streambatch", "tools")
}

// Path returns the installed binary of the pinned version, falling back to
// an unversioned binary on PATH, or an error that says how to install it.
func (t Tool) Path() (string, error) {
	p := filepath.Join(ToolsDir(), t.Name+"-"+t.Version)
	if st, err := os.Stat(p); err == nil && !st.IsDir() {
		return p, nil
	}
	if p, err := exec.LookPath(t.Name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s %s not found in %s or PATH: run `make tools` (or: go install %s@%s)", t.Name, t.Version, ToolsDir(), t.Package, t.Version)
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FreeAddr returns "127.0.0.1:<free port>".
func FreeAddr() (string, error) {
	p, err := FreePort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), nil
}

// AddrOr returns preferred when it is free, else a free loopback address.
func AddrOr(preferred string) (string, error) {
	if l, err := net.Listen("tcp", preferred); err == nil {
		l.Close()
		return preferred, nil
	}
	return FreeAddr()
}
