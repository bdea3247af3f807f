package api

import (
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/aws/smithy-go"
	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/api/serviceerror"

	"github.com/streambatch/streambatch/workflows/flow"
)

func TestUnavailableDependency(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	cases := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("store: get batch: %w", refused), depPostgres},
		{fmt.Errorf("store: authenticate: %w", io.ErrUnexpectedEOF), depPostgres},
		{fmt.Errorf("store: x: %w", &pgconn.PgError{Code: "57P01"}), depPostgres},
		{fmt.Errorf("store: x: %w", &pgconn.PgError{Code: "23505"}), ""},
		{fmt.Errorf("workflows: start: %w", serviceerror.NewUnavailable("frontend down")), depTemporal},
		{fmt.Errorf("blob: put: %w", &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject", Err: refused}), depS3},
		{fmt.Errorf("blob: put: %w", &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject", Err: errors.New("AccessDenied")}), ""},
		{fmt.Errorf("store: create batch: %w", fmt.Errorf("workflows: start b: %w", flow.ErrSearchAttributesNotReady)), depTemporal},
		{fmt.Errorf("workflows: start: %w", serviceerror.NewInvalidArgument("bad id")), ""},
		{errors.New("a bug"), ""},
	}
	for _, c := range cases {
		if got := unavailableDependency(c.err); got != c.want {
			t.Errorf("%v: %q, want %q", c.err, got, c.want)
		}
	}
}
