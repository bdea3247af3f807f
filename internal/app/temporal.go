package app

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"go.temporal.io/sdk/client"

	"github.com/streambatch/streambatch/internal/config"
)

// temporalOptions fills the connection settings of a Temporal client from
// cfg: TLS (server CA, server name, client certificate for mutual TLS) and
// a Temporal Cloud API key.
func temporalOptions(cfg config.Config, opts *client.Options) error {
	if cfg.TemporalAPIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(cfg.TemporalAPIKey)
	}
	if !cfg.TemporalUsesTLS() {
		return nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.TemporalTLSServerName}
	if cfg.TemporalTLSCAFile != "" {
		pem, err := os.ReadFile(cfg.TemporalTLSCAFile)
		if err != nil {
			return fmt.Errorf("%s: %w", config.EnvTemporalTLSCAFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s: %s holds no PEM certificate", config.EnvTemporalTLSCAFile, cfg.TemporalTLSCAFile)
		}
		tc.RootCAs = pool
	}
	if cfg.TemporalTLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TemporalTLSCertFile, cfg.TemporalTLSKeyFile)
		if err != nil {
			return fmt.Errorf("%s / %s: %w", config.EnvTemporalTLSCertFile, config.EnvTemporalTLSKeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	opts.ConnectionOptions.TLS = tc
	return nil
}
