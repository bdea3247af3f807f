// Package testenv starts the real components integration tests run
// against: a fresh PostgreSQL database on the server named by
// STREAMBATCH_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres),
// a versitygw S3 server, and a Temporal CLI dev server or the real Temporal
// server on PostgreSQL (StartTemporalServer), as child processes on free
// loopback ports. The services are started by their own packages
// (versitygw, temporaldev, temporalserver), shared with the dev stack and
// the benchmark; testenv only picks the tests' options (free ports,
// credentials, log files, throw-away databases) and must not start a
// service another way. The pinned binaries are found as package proc says;
// `make tools` installs them.
//
// Nothing here is a fake: it exists so tests exercise the real thing.
package testenv
