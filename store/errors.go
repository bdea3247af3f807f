package store

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Sentinel errors; match them with errors.Is.
var (
	// ErrNotFound: no such row (or not in the caller's environment).
	ErrNotFound = errors.New("not found")
	// ErrNotPending: the batch is no longer PENDING.
	ErrNotPending = errors.New("batch is not pending")
	// ErrIncomplete: sealing found fewer runs than runCount.
	ErrIncomplete = errors.New("batch is incomplete")
	// ErrInvalidData: PostgreSQL refused a value (a data exception, such as
	// text it cannot store); retrying the same rows cannot help.
	ErrInvalidData = errors.New("PostgreSQL refused the data")
)

// uniqueViolation is PostgreSQL's SQLSTATE unique_violation.
const uniqueViolation = "23505"

// classify marks data exceptions (SQLSTATE class 22) as ErrInvalidData.
func classify(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "22") {
		return fmt.Errorf("%w: %s (SQLSTATE %s)", ErrInvalidData, pgErr.Message, pgErr.Code)
	}
	return err
}
