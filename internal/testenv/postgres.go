package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/streambatch/streambatch/batch"
)

// DefaultDatabaseURL is the server tests use unless
// STREAMBATCH_TEST_DATABASE_URL names another: the machine's PostgreSQL with
// trust authentication.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// CreateDatabase creates an empty database with a unique name on the test
// server and returns its URL and a function that drops it.
func CreateDatabase(ctx context.Context, prefix string) (string, func(), error) {
	base := serverURL()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", nil, fmt.Errorf("testenv: connect to %s (start PostgreSQL or set STREAMBATCH_TEST_DATABASE_URL): %w", redact(base), err)
	}
	defer conn.Close(ctx)
	name := "sbtest_" + prefix + "_" + strings.TrimPrefix(batch.NewStreamID(), "")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("testenv: create database: %w", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		ctx := context.Background()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	}
	return u.String(), drop, nil
}

// serverURL is the test server: STREAMBATCH_TEST_DATABASE_URL, else
// DefaultDatabaseURL.
func serverURL() string {
	if u := os.Getenv("STREAMBATCH_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultDatabaseURL
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
