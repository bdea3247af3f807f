package app

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/streambatch/streambatch/internal/metrics"
)

// StartDebug serves Go's profiling endpoints (/debug/pprof/...) on addr
// until ctx ends; it does nothing when addr is empty.
func StartDebug(ctx context.Context, addr string, logger *slog.Logger) {
	if addr == "" {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	serveAux(ctx, addr, mux, "debug endpoints", logger)
}

// StartMetrics serves the Prometheus metrics at /metrics on addr until ctx
// ends; it does nothing when addr is empty. (The worker's metrics; the API
// serves them on its own port.)
func StartMetrics(ctx context.Context, addr string, m *metrics.Metrics, logger *slog.Logger) {
	if addr == "" || m == nil {
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	serveAux(ctx, addr, mux, "metrics", logger)
}

// serveAux runs a small side server until ctx ends.
func serveAux(ctx context.Context, addr string, h http.Handler, what string, logger *slog.Logger) {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		logger.Info("serving "+what, "addr", addr)
		if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
			logger.Warn("side server stopped", "what", what, "error", err)
		}
	}()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
}
