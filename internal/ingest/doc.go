// Package ingest is the Phase 2 pipeline: it reads an NDJSON body line by
// line, validates each item, skips indexes already accepted, writes every
// payload at or above the offload threshold straight to its packet key
// (bounded, pipelined uploads), groups items into chunks, stages large
// chunks in S3 and signals each chunk reference to the batch's workflow.
//
// Memory is bounded by the configured limits (line size, uploads and chunks
// in flight), never by the body. It knows nothing of HTTP: callers map
// SyntaxError to 400 and ValidationError to 422.
package ingest
