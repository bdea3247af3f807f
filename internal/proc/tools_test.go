package proc

import (
	"os"
	"strings"
	"testing"
)

// The Makefile installs the versions the code looks for.
func TestMakefilePinsTheSameVersions(t *testing.T) {
	raw, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	mk := string(raw)
	for _, tool := range []Tool{TemporalCLI, VersityGW, UIServer, TemporalServer, TemporalSQLTool, SQLC} {
		if !strings.Contains(mk, tool.Package) || !strings.Contains(mk, tool.Version) || !strings.Contains(mk, tool.Name) {
			t.Errorf("Makefile does not install %s %s as %s", tool.Package, tool.Version, tool.Name)
		}
	}
}
