package app

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"
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
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		logger.Info("debug endpoints", "addr", addr)
		if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
			logger.Warn("debug server", "error", err)
		}
	}()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
}
