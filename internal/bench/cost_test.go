package bench

import (
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
)

func event(id int64, t enumspb.EventType) *historypb.HistoryEvent {
	return &historypb.HistoryEvent{EventId: id, EventType: t}
}

func TestEventActions(t *testing.T) {
	started := func(attempt int32) *historypb.HistoryEvent {
		e := event(5, enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED)
		e.Attributes = &historypb.HistoryEvent_ActivityTaskStartedEventAttributes{
			ActivityTaskStartedEventAttributes: &historypb.ActivityTaskStartedEventAttributes{Attempt: attempt}}
		return e
	}
	signaled := func(id int64, external bool) *historypb.HistoryEvent {
		e := event(id, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
		a := &historypb.WorkflowExecutionSignaledEventAttributes{}
		if external {
			a.ExternalWorkflowExecution = &commonpb.WorkflowExecution{WorkflowId: "parent"}
		}
		e.Attributes = &historypb.HistoryEvent_WorkflowExecutionSignaledEventAttributes{WorkflowExecutionSignaledEventAttributes: a}
		return e
	}
	upsert := func(names ...string) *historypb.HistoryEvent {
		e := event(7, enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES)
		fields := map[string]*commonpb.Payload{}
		for _, n := range names {
			fields[n] = &commonpb.Payload{}
		}
		e.Attributes = &historypb.HistoryEvent_UpsertWorkflowSearchAttributesEventAttributes{
			UpsertWorkflowSearchAttributesEventAttributes: &historypb.UpsertWorkflowSearchAttributesEventAttributes{
				SearchAttributes: &commonpb.SearchAttributes{IndexedFields: fields}}}
		return e
	}
	tests := []struct {
		name  string
		event *historypb.HistoryEvent
		want  int64
	}{
		{"workflow started (client start or continue-as-new)", event(1, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED), 1},
		{"child start initiated", event(5, enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED), 1},
		{"child started (billed at initiation)", event(6, enumspb.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED), 0},
		{"continued as new (billed as the next run's start)", event(9, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW), 0},
		{"signal from a client", signaled(8, false), 1},
		{"signal of the Signal-With-Start that started the run", signaled(2, false), 0},
		{"signal from a workflow (billed in the sender)", signaled(8, true), 0},
		{"signal sent to a workflow", event(5, enumspb.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED), 1},
		{"activity scheduled", event(5, enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED), 1},
		{"activity started at its first attempt", started(1), 0},
		{"activity started at its third attempt (two retries)", started(3), 2},
		{"activity completed", event(7, enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED), 0},
		{"activity failed", event(7, enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED), 0},
		{"timer started", event(5, enumspb.EVENT_TYPE_TIMER_STARTED), 1},
		{"timer fired", event(6, enumspb.EVENT_TYPE_TIMER_FIRED), 0},
		{"search attributes upserted", upsert("BatchStatus", changeVersionAttribute), 1},
		{"change version upserted alone", upsert(changeVersionAttribute), 0},
		{"update accepted", event(5, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED), 1},
		{"update completed", event(6, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED), 0},
		{"execution options updated", event(5, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED), 1},
		{"Nexus operation scheduled", event(5, enumspb.EVENT_TYPE_NEXUS_OPERATION_SCHEDULED), 1},
		{"Nexus operation cancel requested", event(6, enumspb.EVENT_TYPE_NEXUS_OPERATION_CANCEL_REQUESTED), 1},
		{"workflow task scheduled", event(2, enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED), 0},
		{"workflow task completed", event(4, enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED), 0},
		{"workflow completed", event(9, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := eventActions(tt.event); got != tt.want {
				t.Errorf("eventActions = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestBillableActionsCountsMarkersOncePerWorkflowTask(t *testing.T) {
	marker := func(id, task int64) *historypb.HistoryEvent {
		e := event(id, enumspb.EVENT_TYPE_MARKER_RECORDED)
		e.Attributes = &historypb.HistoryEvent_MarkerRecordedEventAttributes{
			MarkerRecordedEventAttributes: &historypb.MarkerRecordedEventAttributes{MarkerName: "LocalActivity", WorkflowTaskCompletedEventId: task}}
		return e
	}
	events := []*historypb.HistoryEvent{
		event(1, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED),
		event(2, enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED),
		event(3, enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED),
		event(4, enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
		marker(5, 4), marker(6, 4), marker(7, 4),
		event(8, enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
		event(9, enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
		marker(10, 9),
		event(11, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED),
	}
	// start + activity + two workflow tasks with markers
	if got := BillableActions(events); got != 4 {
		t.Errorf("BillableActions = %d, want 4", got)
	}
}
