package ingest

import (
	"errors"
	"fmt"
	"testing"

	"go.temporal.io/api/serviceerror"

	"github.com/streambatch/streambatch/workflows/flow"
)

// A start the server refuses because it has not mapped the search
// attributes yet is marked as passing; other refusals are not.
func TestNotReadyMarksUnmappedSearchAttributes(t *testing.T) {
	t.Parallel()
	unmapped := serviceerror.NewInvalidArgument("Namespace default has no mapping defined for search attribute BatchEnv")
	c := &Client{}
	if err := c.wrap("start", "b1", fmt.Errorf("grpc: %w", unmapped)); !errors.Is(err, flow.ErrSearchAttributesNotReady) || !errors.As(err, new(*serviceerror.InvalidArgument)) {
		t.Fatalf("unmapped search attribute: %v", err)
	}
	for _, err := range []error{serviceerror.NewInvalidArgument("WorkflowId is too long"), errors.New("other")} {
		if got := c.wrap("start", "b1", err); errors.Is(got, flow.ErrSearchAttributesNotReady) {
			t.Fatalf("%v marked as not ready", err)
		}
	}
}
