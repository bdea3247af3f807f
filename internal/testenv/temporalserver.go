package testenv

import (
	"context"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/temporalserver"
)

// StartTemporalServer starts the real Temporal server (package
// temporalserver) on two fresh databases of the test PostgreSQL server,
// with its configuration and logs under dir; its Stop drops them.
func StartTemporalServer(ctx context.Context, dir string) (*temporalserver.Server, error) {
	return temporalserver.Start(ctx, temporalserver.Options{Dir: dir, Postgres: serverURL(),
		Databases: "sbtest_temporal_" + batch.NewStreamID(), DropDatabases: true})
}
