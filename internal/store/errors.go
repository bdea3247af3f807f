package store

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

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
	// ErrTokenUsed: a one-time-use token already created a batch.
	ErrTokenUsed = errors.New("the one-time-use token was already used")
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

// Unavailable reports whether err shows PostgreSQL down or unreachable (a
// refused or lost connection, a server shutting down) rather than a query
// or data problem: a fault to wait out.
func Unavailable(err error) bool {
	var connect *pgconn.ConnectError
	var pgErr *pgconn.PgError
	var op *net.OpError
	switch {
	case errors.As(err, &connect), errors.As(err, &op):
		return true
	case errors.As(err, &pgErr):
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", "53300": // admin/crash shutdown, cannot connect now, too many clients
			return true
		}
		return false
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		pgconn.Timeout(err) || strings.Contains(err.Error(), "conn closed")
}
