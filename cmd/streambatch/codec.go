package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/codec"
	"github.com/streambatch/streambatch/internal/app"
	"github.com/streambatch/streambatch/internal/config"
)

func runCodecServer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("codec-server", "Serves Temporal's remote codec endpoint (POST /decode, /encode) on\nSTREAMBATCH_CODEC_ADDR with STREAMBATCH_PAYLOAD_KEYS, so that Temporal UI (Settings →\nCodec Server, or the UI server's codec.endpoint) and `temporal --codec-endpoint` show\nstreambatch's encrypted payloads. Answers the browser origins in\nSTREAMBATCH_CODEC_ORIGINS; requires STREAMBATCH_CODEC_TOKEN as a bearer token when set.\nRefuses (421) a Host other than a loopback name or one in STREAMBATCH_CODEC_HOSTS.", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		return err
	}
	if err := cfg.Validate(config.NeedPayloadKeys); err != nil {
		return err
	}
	keys, err := codec.ParseKeys(cfg.PayloadKeys)
	if err != nil {
		return err
	}
	logger := app.NewLogger(cfg.LogLevel)
	ln, err := net.Listen("tcp", cfg.CodecAddr)
	if err != nil {
		return fmt.Errorf("listen on %s (%s): %w", cfg.CodecAddr, config.EnvCodecAddr, err)
	}
	if cfg.CodecToken == "" && !loopback(ln.Addr()) {
		logger.Warn("the codec endpoint decrypts for anyone who reaches it: set STREAMBATCH_CODEC_TOKEN or keep it on a loopback address", "addr", ln.Addr().String())
	}
	logger.Info("codec endpoint serving", "addr", ln.Addr().String(), "active_key", keys.ActiveID(), "origins", cfg.CodecOrigins, "hosts", cfg.CodecHosts)
	return app.Serve(ctx, ln, codec.Handler(keys, codec.HandlerOptions{Origins: cfg.CodecOrigins, Token: cfg.CodecToken, Hosts: cfg.CodecHosts}), logger)
}

func loopback(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}

func runPayloadKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("payload-key", "Prints a new payload key entry (id:base64 of 32 random bytes) for\nSTREAMBATCH_PAYLOAD_KEYS. To rotate, put the new entry first and keep the old ones\nuntil no open workflow holds payloads under them. With --env, prints instead the key\nset of that environment's task workers, derived from STREAMBATCH_PAYLOAD_KEYS: it reads\nthat environment's runs and nothing else.", stderr)
	id := fs.String("id", "", "key id (default: k<unix time>)")
	env := fs.String("env", "", "print the key set of this environment's task workers")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *env != "" {
		if err := batch.ValidateEnvName(*env); err != nil {
			fmt.Fprintln(stderr, err)
			return errUsage
		}
		keys, err := codec.ParseKeys(os.Getenv(codec.EnvKeys))
		if err != nil {
			return fmt.Errorf("%s: %w", codec.EnvKeys, err)
		}
		set, err := keys.EnvKeys(*env)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, set)
		return nil
	}
	if *id == "" {
		*id = fmt.Sprintf("k%d", time.Now().Unix())
	}
	entry, err := codec.NewKey(*id)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return errUsage
	}
	fmt.Fprintln(stdout, entry)
	return nil
}
