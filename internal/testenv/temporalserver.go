package testenv

import (
	"context"

	"github.com/streambatch/streambatch/internal/temporalserver"
)

// TemporalServer is the real Temporal server on two fresh databases of the
// test PostgreSQL server (see package temporalserver).
type TemporalServer struct {
	*temporalserver.Server
	drops []func()
}

// StartTemporalServer creates the server's databases and starts it with
// its configuration and logs under dir; Stop stops it and drops them.
func StartTemporalServer(ctx context.Context, dir string) (_ *TemporalServer, err error) {
	s := &TemporalServer{}
	defer func() {
		if err != nil {
			_ = s.Stop()
		}
	}()
	var urls []string
	for range 2 {
		u, drop, err := CreateDatabase(ctx, "temporal")
		if err != nil {
			return nil, err
		}
		s.drops = append(s.drops, drop)
		urls = append(urls, u)
	}
	s.Server, err = temporalserver.Start(ctx, temporalserver.Options{Dir: dir, DefaultStore: urls[0], Visibility: urls[1]})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Stop stops the server and drops its databases.
func (s *TemporalServer) Stop() error {
	if s.Server != nil {
		s.Server.Stop()
	}
	for _, drop := range s.drops {
		drop()
	}
	s.drops = nil
	return nil
}
