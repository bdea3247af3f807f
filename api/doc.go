// Package api is streambatch's HTTP surface: the Gin engine, routes, API-key
// authentication, and the mapping from errors to status codes and
// {"error": "..."} bodies. The request and answer bodies of its routes
// (trigger.dev v3 batch API compatible, plus streambatch's status
// endpoints) are declared in package wire, which api encodes.
//
// Handlers validate requests and delegate: Phase 2 streams go to package
// ingest, workflow interaction to the flows' clients (workflows/ingest, workflows/runs), state to package store.
package api
