package ingest

import "fmt"

// SyntaxError reports a body that is not valid NDJSON: invalid JSON or
// invalid UTF-8 on a line. The API answers it with 400.
type SyntaxError struct {
	Line int    // 1-based physical line number
	Msg  string // complete message, e.g. "Invalid JSON at line 3: unexpected end of JSON input"
}

func (e *SyntaxError) Error() string { return e.Msg }

// ValidationError reports a well-formed item or request that breaks a rule:
// a missing field, an index out of range, a wrongly typed option, a batch
// that no longer accepts items. The API answers it with 422.
type ValidationError struct {
	Msg string
}

func (e *ValidationError) Error() string { return e.Msg }

func validationf(format string, args ...any) error {
	return &ValidationError{Msg: fmt.Sprintf(format, args...)}
}

// BodyError reports that the request body itself could not be read: the
// client stalled, cut the connection or sent malformed framing. The API
// answers 408 for a stall and 400 otherwise.
type BodyError struct{ Err error }

func (e *BodyError) Error() string { return "read request body: " + e.Err.Error() }
func (e *BodyError) Unwrap() error { return e.Err }
