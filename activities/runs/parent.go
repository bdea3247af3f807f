package runs

import (
	"context"
	"errors"
	"fmt"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/streambatch/streambatch/codec"
	"github.com/streambatch/streambatch/workflows/flow"
	"github.com/streambatch/streambatch/workflows/ingest"
	contract "github.com/streambatch/streambatch/workflows/runs"
	"github.com/streambatch/streambatch/workflows/sweep"
)

// NotifyParent (a local activity of BatchRuns) tells a batch's parent
// workflow that the batch ended. The parent is signalled only when it is
// running, is not one of streambatch's own workflows and carries the search
// attribute BatchEnv equal to the batch's environment: a batch names its
// parent by a free-form ID, and without this check one environment could
// signal another's workflows. The signal is encrypted under the
// environment's key (codec.EnvDataConverter), which the parent's worker
// holds. The outcome is recorded on the batch (parent_notified_at, or
// parent_refused with the reason). A retry after the signal sends the same
// request ID, which Temporal deduplicates.
func (a *Activities) NotifyParent(ctx context.Context, in contract.NotifyParentInput) (out contract.NotifyParentResult, err error) {
	defer a.observe(contract.ActivityNotifyParent, time.Now(), &err)
	if a.Parents == nil || a.Keys == nil {
		out.Refused = "the worker holds no Temporal client or payload keys to signal the parent with"
	} else {
		out.Refused, err = a.checkParent(ctx, in)
		if err != nil {
			return out, err
		}
	}
	if out.Refused == "" {
		out.Refused, err = a.signalParent(ctx, in)
		if err != nil {
			return out, err
		}
	}
	if out.Refused != "" {
		if activity.IsActivity(ctx) {
			activity.GetLogger(ctx).Warn("parent workflow not signalled", "batch", in.BatchID, "parent", in.Parent, "reason", out.Refused)
		}
		return out, a.Exec.MarkParentRefused(ctx, in.BatchID, out.Refused)
	}
	_, err = a.Exec.MarkParentNotified(ctx, in.BatchID)
	return out, err
}

// checkParent returns why in.Parent may not be signalled, or "".
func (a *Activities) checkParent(ctx context.Context, in contract.NotifyParentInput) (string, error) {
	if flow.IsOwnWorkflowID(in.Parent) {
		return "parent " + in.Parent + " is one of streambatch's own workflows", nil
	}
	d, err := a.Parents.DescribeWorkflowExecution(ctx, in.Parent, "")
	if why := permanent(err); why != "" {
		return "parent workflow " + in.Parent + ": " + why, nil
	}
	if err != nil {
		return "", fmt.Errorf("describe parent workflow %s: %w", in.Parent, err)
	}
	info := d.GetWorkflowExecutionInfo()
	if st := info.GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return fmt.Sprintf("parent workflow %s is not running (%s)", in.Parent, st), nil
	}
	switch info.GetType().GetName() {
	case ingest.WorkflowName, contract.WorkflowName, sweep.WorkflowName:
		return "parent " + in.Parent + " is one of streambatch's own workflows", nil
	}
	env, ok := keywordAttr(info.GetSearchAttributes(), flow.SearchAttrBatchEnv.GetName())
	if !ok || env != in.Env {
		return fmt.Sprintf("parent workflow %s does not carry the search attribute %s=%s (batchwait.Allow sets it)",
			in.Parent, flow.SearchAttrBatchEnv.GetName(), in.Env), nil
	}
	return "", nil
}

// signalParent sends the completion signal, encrypted under the batch's
// environment's key; it returns a refusal when the parent ended meanwhile.
func (a *Activities) signalParent(ctx context.Context, in contract.NotifyParentInput) (string, error) {
	msg := contract.BatchCompleted{BatchID: in.BatchID, Status: in.Status, RunCounts: in.RunCounts}
	input, err := codec.EnvDataConverter(a.Keys, in.Env).ToPayloads(msg)
	if err != nil {
		return "", err
	}
	var namespace, runID string // the workflow's namespace is the parent's too
	if activity.IsActivity(ctx) {
		info := activity.GetInfo(ctx)
		namespace, runID = info.WorkflowNamespace, info.WorkflowExecution.RunID
	}
	_, err = a.Parents.WorkflowService().SignalWorkflowExecution(ctx, &workflowservice.SignalWorkflowExecutionRequest{
		Namespace:         namespace,
		WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: in.Parent},
		SignalName:        contract.SignalBatchCompleted,
		Input:             input,
		Identity:          "streambatch batch " + in.BatchID,
		// The same request on a retry: Temporal delivers it once. A
		// replay's completion comes from another BatchRuns run: signalled
		// again.
		RequestId: "streambatch-parent-" + in.BatchID + "-" + runID,
	})
	if why := permanent(err); why != "" {
		return "parent workflow " + in.Parent + " could not be signalled: " + why, nil
	}
	if err != nil {
		return "", fmt.Errorf("signal parent workflow %s: %w", in.Parent, err)
	}
	return "", nil
}

// permanent describes a Temporal error that retrying cannot change (the
// parent is refused), or returns "" for none or a transient one.
func permanent(err error) string {
	var notFound *serviceerror.NotFound
	var denied *serviceerror.PermissionDenied
	var invalid *serviceerror.InvalidArgument
	switch {
	case errors.As(err, &notFound):
		return "not found (it ended, or never existed)"
	case errors.As(err, &denied):
		return "permission denied: " + denied.Message
	case errors.As(err, &invalid):
		return "invalid: " + invalid.Message
	}
	return ""
}

// keywordAttr returns a Keyword search attribute's value.
func keywordAttr(sa *commonpb.SearchAttributes, name string) (string, bool) {
	p, ok := sa.GetIndexedFields()[name]
	if !ok {
		return "", false
	}
	var v string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &v); err != nil {
		return "", false
	}
	return v, true
}
