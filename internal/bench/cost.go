package bench

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	tclient "go.temporal.io/sdk/client"
)

// Cost is what a set of workflow executions costs Temporal: the actions
// Temporal Cloud bills for them (see BillableActions) and the history they
// wrote, summed over every run of every workflow id (continued-as-new runs
// included).
type Cost struct {
	Actions       int64 `json:"actions"`
	HistoryEvents int64 `json:"history_events"`
	HistoryBytes  int64 `json:"history_bytes"`
	Executions    int   `json:"executions"`
	// ActionsBy splits Actions by the event type that bills them.
	ActionsBy map[string]int64 `json:"actions_by,omitempty"`
}

// Add adds o to c.
func (c *Cost) Add(o Cost) {
	c.Actions += o.Actions
	c.HistoryEvents += o.HistoryEvents
	c.HistoryBytes += o.HistoryBytes
	c.Executions += o.Executions
	for k, v := range o.ActionsBy {
		if c.ActionsBy == nil {
			c.ActionsBy = map[string]int64{}
		}
		c.ActionsBy[k] += v
	}
}

// PerRun is a Cost divided by the runs it served.
type PerRun struct {
	Actions       float64 `json:"actions_per_run"`
	HistoryEvents float64 `json:"history_events_per_run"`
	HistoryBytes  float64 `json:"history_bytes_per_run"`
}

// Per divides c by runs.
func (c Cost) Per(runs int) PerRun {
	if runs <= 0 {
		return PerRun{}
	}
	n := float64(runs)
	return PerRun{float64(c.Actions) / n, float64(c.HistoryEvents) / n, float64(c.HistoryBytes) / n}
}

// changeVersionAttribute is the search attribute workflow.GetVersion
// upserts; Temporal Cloud does not bill its upserts.
const changeVersionAttribute = "TemporalChangeVersion"

// eventActions returns the actions Temporal Cloud bills for one history
// event (https://docs.temporal.io/cloud/actions), markers aside (see
// BillableActions):
//   - a run started (client start, continue-as-new, child start): 1, and 1
//     more in the parent for the child start it initiated;
//   - a signal received: 1, except the signal of a Signal-With-Start that
//     started the run (event 2), billed as the start alone;
//   - a signal sent to another workflow: 1 in the sender, 0 in the
//     receiver, so that a signal counts once whichever histories are walked;
//   - an activity scheduled: 1, plus 1 per retry (its start's attempt - 1);
//   - a timer started, an update accepted, execution options updated, a
//     Nexus operation scheduled or cancel requested: 1;
//   - a search attribute upsert: 1, unless it sets TemporalChangeVersion
//     only.
//
// Queries, activity heartbeats and rejected updates leave no event and are
// not counted.
func eventActions(e *historypb.HistoryEvent) int64 {
	switch e.GetEventType() {
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
		enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
		enumspb.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
		enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
		enumspb.EVENT_TYPE_TIMER_STARTED,
		enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
		enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED,
		enumspb.EVENT_TYPE_NEXUS_OPERATION_SCHEDULED,
		enumspb.EVENT_TYPE_NEXUS_OPERATION_CANCEL_REQUESTED:
		return 1
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
		if e.GetEventId() == 2 || e.GetWorkflowExecutionSignaledEventAttributes().GetExternalWorkflowExecution() != nil {
			return 0
		}
		return 1
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
		return max(int64(e.GetActivityTaskStartedEventAttributes().GetAttempt())-1, 0)
	case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
		for name := range e.GetUpsertWorkflowSearchAttributesEventAttributes().GetSearchAttributes().GetIndexedFields() {
			if name != changeVersionAttribute {
				return 1
			}
		}
		return 0
	}
	return 0
}

// BillableActions counts the actions Temporal Cloud bills for one run's
// history: eventActions of every event, plus one per workflow task that
// recorded markers (local activities, side effects, versions), however
// many it recorded: Cloud bills the RecordMarker commands of a workflow
// task as one action.
func BillableActions(events []*historypb.HistoryEvent) int64 {
	var n int64
	for _, v := range billableActionsBy(events) {
		n += v
	}
	return n
}

// billableActionsBy is BillableActions by the event type that bills them.
func billableActionsBy(events []*historypb.HistoryEvent) map[string]int64 {
	by := map[string]int64{}
	markerTasks := map[int64]bool{}
	for _, e := range events {
		if e.GetEventType() == enumspb.EVENT_TYPE_MARKER_RECORDED {
			markerTasks[e.GetMarkerRecordedEventAttributes().GetWorkflowTaskCompletedEventId()] = true
			continue
		}
		if a := eventActions(e); a > 0 {
			by[e.GetEventType().String()] += a
		}
	}
	if len(markerTasks) > 0 {
		by[enumspb.EVENT_TYPE_MARKER_RECORDED.String()] = int64(len(markerTasks))
	}
	return by
}

// WaitClosed waits until every run of the given workflow ids has closed,
// following continue-as-new, so that their cost is final. An id no
// workflow ever had is skipped (a small batch's BatchIngest executes its
// runs itself: it has no BatchRuns), so list a batch's BatchIngest first.
func WaitClosed(ctx context.Context, tc tclient.Client, ids ...string) error {
	for _, id := range ids {
		err := tc.GetWorkflow(ctx, id, "").Get(ctx, nil)
		var nf *serviceerror.NotFound
		if err != nil && !errors.As(err, &nf) {
			return fmt.Errorf("wait for %s: %w", id, err)
		}
	}
	return nil
}

// CostOf measures the cost of the given workflow ids: every run of each,
// from the latest back along the continue-as-new chain, its history read
// event by event (actions) and described (events, bytes).
func CostOf(ctx context.Context, tc tclient.Client, ids ...string) (Cost, error) {
	var total Cost
	for _, id := range ids {
		desc, err := tc.DescribeWorkflowExecution(ctx, id, "")
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			continue // never started (WaitClosed)
		}
		if err != nil {
			return total, fmt.Errorf("describe %s: %w", id, err)
		}
		runID := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
		for runID != "" {
			c, prev, err := runCost(ctx, tc, id, runID)
			if err != nil {
				return total, err
			}
			total.Add(c)
			runID = prev
		}
	}
	return total, nil
}

// runCost measures one run and returns the run it continued, if any.
func runCost(ctx context.Context, tc tclient.Client, id, runID string) (Cost, string, error) {
	desc, err := tc.DescribeWorkflowExecution(ctx, id, runID)
	if err != nil {
		return Cost{}, "", fmt.Errorf("describe %s/%s: %w", id, runID, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	c := Cost{HistoryEvents: info.GetHistoryLength(), HistoryBytes: info.GetHistorySizeBytes(), Executions: 1}
	var events []*historypb.HistoryEvent
	var prev string
	it := tc.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return c, "", fmt.Errorf("history %s/%s: %w", id, runID, err)
		}
		if a := e.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			prev = a.GetContinuedExecutionRunId()
		}
		events = append(events, e)
	}
	c.ActionsBy = billableActionsBy(events)
	for _, v := range c.ActionsBy {
		c.Actions += v
	}
	return c, prev, nil
}
