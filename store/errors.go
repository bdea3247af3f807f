package store

import "errors"

// Sentinel errors; match them with errors.Is.
var (
	// ErrNotFound: no such row (or not in the caller's environment).
	ErrNotFound = errors.New("not found")
	// ErrNotPending: the batch is no longer PENDING.
	ErrNotPending = errors.New("batch is not pending")
	// ErrIncomplete: sealing found fewer runs than runCount.
	ErrIncomplete = errors.New("batch is incomplete")
)

// uniqueViolation is PostgreSQL's SQLSTATE unique_violation.
const uniqueViolation = "23505"
