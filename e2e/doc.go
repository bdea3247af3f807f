// Package e2e holds the end-to-end tests of streambatch: the real API and
// worker wiring (package app) against a real PostgreSQL database, a real
// versitygw S3 server and a real Temporal dev server, driven over HTTP.
//
// Files are grouped by theme, the theme first in the name: ingest_* (Phase 1
// and Phase 2, the Go client, push and dev), execution_* (runs on task
// workers, abort, waiting, queue limits, the sweep), security_* (authentication,
// isolation, hostile input, encryption), faults_* (killed processes and
// services, the cluster topology) and triggerdev_* (the trigger.dev SDK and
// read side). stack_test.go holds the shared stack and the one HTTP
// vocabulary every test calls the API with.
package e2e
