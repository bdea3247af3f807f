// Package e2e holds the end-to-end tests of streambatch: the real API and
// worker wiring (package app) against a real PostgreSQL database, a real
// versitygw S3 server and a real Temporal dev server, driven over HTTP.
package e2e
