package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/app"
	"github.com/streambatch/streambatch/internal/config"
)

// testPKI is a CA with a server and a client certificate, written as PEM
// files.
type testPKI struct {
	caFile, certFile, keyFile string
	server                    tls.Certificate
	pool                      *x509.CertPool
}

func newTestPKI(t *testing.T, serverName string) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "streambatch test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, name string, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{usage},
			KeyUsage: x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	srvDER, srvKey := issue(2, serverName, x509.ExtKeyUsageServerAuth)
	cliDER, cliKey := issue(3, "streambatch", x509.ExtKeyUsageClientAuth)
	cliKeyDER, _ := x509.MarshalECPrivateKey(cliKey)
	p := testPKI{caFile: write("ca.pem", "CERTIFICATE", caDER), certFile: write("client.pem", "CERTIFICATE", cliDER),
		keyFile: write("client-key.pem", "EC PRIVATE KEY", cliKeyDER), pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.server = tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}
	return p
}

// startTLSFront terminates mutual TLS in front of target (the dev server's
// plain gRPC port) and returns its address.
func startTLSFront(t *testing.T, pki testPKI, target string) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pki.server},
		ClientCAs: pki.pool, ClientAuth: tls.RequireAndVerifyClientCert, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				out, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer out.Close()
				go io.Copy(out, in)
				io.Copy(in, out)
			}()
		}
	}()
	return ln.Addr().String()
}

// streambatch reaches a Temporal frontend that requires mutual TLS
// (certificates made by the test): with the CA, the server name and a
// client certificate a batch is created, streamed and sealed; without the
// client certificate, or trusting another CA, it cannot connect.
func TestTemporalMutualTLS(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	const serverName = "temporal.test"
	pki := newTestPKI(t, serverName)
	front := startTLSFront(t, pki, s.temporal.FrontendHostPort())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	cfg := s.config("tls-" + batch.NewStreamID())
	cfg.TemporalAddress = front
	cfg.TemporalTLSCAFile, cfg.TemporalTLSServerName = pki.caFile, serverName
	// Without a client certificate the frontend refuses the connection.
	if a, err := app.Open(ctx, cfg, config.NeedTemporal, logger); err == nil {
		a.Close()
		t.Fatal("connected without a client certificate")
	}
	cfg.TemporalTLSCertFile, cfg.TemporalTLSKeyFile = pki.certFile, pki.keyFile
	a, err := app.Open(ctx, cfg, config.NeedDatabase|config.NeedS3|config.NeedTemporal|config.NeedJWT, logger)
	if err != nil {
		t.Fatalf("mutual TLS: %v", err)
	}
	defer a.Close()
	w := a.Worker()
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	api := s.withApp(t, a)
	_, key := s.newKey(t)
	id := api.mustCreate(t, key, 20)
	if status, res, raw := api.stream(t, key, id, ndjson(simpleItems(20))); status != 200 || !res.Sealed {
		t.Fatalf("stream over TLS to Temporal: %d %s", status, raw)
	}
	if b := api.batchStatus(t, key, id); b.Status != "PROCESSING" {
		t.Fatalf("batch %+v", b)
	}
	// Trusting another CA: the server's certificate does not verify.
	other := newTestPKI(t, serverName)
	cfg.TemporalTLSCAFile = other.caFile
	if a2, err := app.Open(ctx, cfg, config.NeedTemporal, logger); err == nil {
		a2.Close()
		t.Fatal("connected trusting another CA")
	}
}
