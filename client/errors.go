package client

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// APIError is an error answer from the server.
type APIError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Message is the server's {"error": "..."} message (or the raw body).
	Message string
	// Method and Path identify the request.
	Method, Path string
	// RetryAfter is the server's Retry-After, when it sent one.
	RetryAfter time.Duration
	// NoRetry is set when the server said x-should-retry: false.
	NoRetry bool
}

func (e *APIError) Error() string {
	return fmt.Sprintf("streambatch: %s %s: %d %s: %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// Retryable reports whether repeating the request may succeed: 408, 409,
// 429 and 5xx (unless the server said x-should-retry: false).
func (e *APIError) Retryable() bool {
	if e.NoRetry {
		return false
	}
	switch {
	case e.StatusCode == http.StatusRequestTimeout, e.StatusCode == http.StatusConflict,
		e.StatusCode == http.StatusTooManyRequests, e.StatusCode >= 500:
		return true
	}
	return false
}

// NotSealedError reports a batch that still missed indexes when the
// attempts ran out.
type NotSealedError struct {
	BatchID           string
	EnqueuedCount     int
	ExpectedCount     int
	ItemsAccepted     int
	ItemsDeduplicated int
}

func (e *NotSealedError) Error() string {
	return fmt.Sprintf("streambatch: batch %s not sealed: %d of %d items accepted", e.BatchID, e.EnqueuedCount, e.ExpectedCount)
}

// SourceError wraps an error returned by the item iterator; it is never
// retried.
type SourceError struct{ Err error }

func (e *SourceError) Error() string { return "streambatch: reading items: " + e.Err.Error() }
func (e *SourceError) Unwrap() error { return e.Err }

// retryable classifies an error of one attempt.
func retryable(err error) bool {
	var api *APIError
	if errors.As(err, &api) {
		return api.Retryable()
	}
	var src *SourceError
	if errors.As(err, &src) {
		return false
	}
	return true // network errors, unreadable answers
}
