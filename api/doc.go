// Package api is streambatch's HTTP surface: the Gin engine, routes, API-key
// authentication, wire types of the trigger.dev v3 batch API (and
// streambatch's status endpoints), and the mapping from errors to status
// codes and {"error": "..."} bodies.
//
// Handlers validate requests and delegate: Phase 2 streams go to package
// ingest, workflow interaction to the flows' clients (workflows/ingest, workflows/runs), state to package store.
package api
