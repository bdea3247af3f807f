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
