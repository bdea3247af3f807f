package api

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/aws/smithy-go"
	"go.temporal.io/api/serviceerror"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/streambatch/streambatch/internal/store"
	"github.com/streambatch/streambatch/workflows/flow"
)

// Dependencies an error can blame.
const (
	depPostgres = "PostgreSQL"
	depTemporal = "Temporal"
	depS3       = "object storage (S3)"
)

// unavailableDependency names the dependency an error shows to be down or
// unreachable ("" when the error is not one of those): a fault to wait
// out, not a bug, so the API answers 503 with Retry-After.
func unavailableDependency(err error) string {
	var s3Op *smithy.OperationError
	var unavailable *serviceerror.Unavailable
	var deadline *serviceerror.DeadlineExceeded
	switch {
	case errors.As(err, &unavailable), errors.As(err, &deadline), errors.Is(err, flow.ErrSearchAttributesNotReady):
		return depTemporal
	case errors.As(err, &s3Op):
		if isConnectionFault(s3Op.Err) {
			return depS3
		}
		return ""
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if st, ok := status.FromError(e); ok && st.Code() == codes.Unavailable {
			return depTemporal
		}
	}
	if store.Unavailable(err) {
		return depPostgres
	}
	return ""
}

// isConnectionFault reports a refused, reset or cut connection.
func isConnectionFault(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded)
}
