package flow

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"
)

// ErrTypeBatchNotPending is the non-retryable application error type an
// activity returns when the batch was sealed or aborted elsewhere.
const ErrTypeBatchNotPending = "BatchNotPending"

// Search attributes the workflows keep current, so operators can find
// batches in Temporal UI (`BatchState="PENDING"`, `BatchEnv="prod"`).
var (
	SearchAttrBatchID    = temporal.NewSearchAttributeKeyKeyword("BatchId")
	SearchAttrBatchState = temporal.NewSearchAttributeKeyKeyword("BatchState")
	SearchAttrBatchEnv   = temporal.NewSearchAttributeKeyKeyword("BatchEnv")
)

// SearchAttributes lists the keys the workflows use, for registration.
var SearchAttributes = []temporal.SearchAttributeKeyKeyword{SearchAttrBatchID, SearchAttrBatchState, SearchAttrBatchEnv}

// IsOwnWorkflowID reports whether id is, or could be, the ID of one of
// streambatch's own workflows (BatchIngest and BatchRuns: "batch_…"; the
// sweeper and other service workflows: "streambatch-…"): never a batch's
// parent.
func IsOwnWorkflowID(id string) bool {
	return strings.HasPrefix(id, "batch_") || strings.HasPrefix(id, "streambatch-")
}

// RetryForever keeps retrying transient faults with capped backoff, so a
// failing activity stays visible (attempt count, last failure) and an
// operator can pause, fix and reset it from Temporal UI.
func RetryForever(nonRetryable ...string) *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Minute,
		MaximumAttempts:        0,
		NonRetryableErrorTypes: nonRetryable,
	}
}

// KeepFirst sets *dst to reason (fallback when reason is empty) unless it
// is already set: the first abort reason wins.
func KeepFirst(dst *string, reason, fallback string) {
	if *dst != "" {
		return
	}
	if reason == "" {
		reason = fallback
	}
	*dst = reason
}

// ErrSearchAttributesNotReady reports a server that has the search
// attributes registered but does not accept them yet: a new server with SQL
// visibility answers so for a moment after registration (until its
// namespace cache refreshes). It passes; callers retry.
var ErrSearchAttributesNotReady = errors.New("the Temporal namespace does not accept streambatch's search attributes yet")

// NotReady marks a start refused for unmapped search attributes with
// ErrSearchAttributesNotReady.
func NotReady(err error) error {
	if searchAttributesNotReady(err) {
		return fmt.Errorf("%w: %w", ErrSearchAttributesNotReady, err)
	}
	return err
}

// searchAttributesNotReady recognises the server's answer to a start with
// search attributes it has not mapped yet ("Namespace default has no
// mapping defined for search attribute BatchEnv"). The server offers no
// error detail for it; the message is the only sign.
func searchAttributesNotReady(err error) bool {
	var invalid *serviceerror.InvalidArgument
	return errors.As(err, &invalid) && strings.Contains(invalid.Message, "no mapping defined for search attribute")
}
