package runs

import (
	"context"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/grpc"

	"github.com/streambatch/streambatch/codec"
	"github.com/streambatch/streambatch/tasks/batchwait"
	contract "github.com/streambatch/streambatch/workflows/runs"
)

// parentExec records what NotifyParent wrote on the batch.
type parentExec struct {
	Execution
	notified bool
	refused  string
}

func (e *parentExec) MarkParentNotified(context.Context, string) (bool, error) {
	e.notified = true
	return true, nil
}

func (e *parentExec) MarkParentRefused(_ context.Context, _ string, reason string) error {
	e.refused = reason
	return nil
}

// fakeParents is Temporal with one workflow (or none) and a record of the
// signals sent.
type fakeParents struct {
	info    *workflowpb.WorkflowExecutionInfo // nil: not found
	signals []*workflowservice.SignalWorkflowExecutionRequest
}

func (f *fakeParents) DescribeWorkflowExecution(_ context.Context, id, _ string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	if f.info == nil {
		return nil, serviceerror.NewNotFound("workflow " + id + " not found")
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: f.info}, nil
}

func (f *fakeParents) WorkflowService() workflowservice.WorkflowServiceClient {
	return fakeSignals{f: f}
}

// fakeSignals is the gRPC service of fakeParents: signals only.
type fakeSignals struct {
	workflowservice.WorkflowServiceClient
	f *fakeParents
}

func (f fakeSignals) SignalWorkflowExecution(_ context.Context, r *workflowservice.SignalWorkflowExecutionRequest, _ ...grpc.CallOption) (*workflowservice.SignalWorkflowExecutionResponse, error) {
	f.f.signals = append(f.f.signals, r)
	return &workflowservice.SignalWorkflowExecutionResponse{}, nil
}

// parentInfo is a workflow of type typ, in status st, with BatchEnv = env
// ("" for none).
func parentInfo(t *testing.T, typ string, st enumspb.WorkflowExecutionStatus, env string) *workflowpb.WorkflowExecutionInfo {
	t.Helper()
	info := &workflowpb.WorkflowExecutionInfo{Type: &commonpb.WorkflowType{Name: typ}, Status: st,
		SearchAttributes: &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{}}}
	if env != "" {
		p, err := converter.GetDefaultDataConverter().ToPayload(env)
		if err != nil {
			t.Fatal(err)
		}
		info.SearchAttributes.IndexedFields[batchwait.SearchAttribute.GetName()] = p
	}
	return info
}

func TestNotifyParent(t *testing.T) {
	t.Parallel()
	entry, err := codec.NewKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := codec.ParseKeys(entry)
	if err != nil {
		t.Fatal(err)
	}
	in := contract.NotifyParentInput{BatchID: "batch_1", Env: "tenant-a", Parent: "waiter", Status: "COMPLETED",
		RunCounts: map[string]int{"COMPLETED": 3}}
	running := enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	notify := func(t *testing.T, info *workflowpb.WorkflowExecutionInfo, in contract.NotifyParentInput) (*fakeParents, *parentExec, contract.NotifyParentResult) {
		t.Helper()
		p, e := &fakeParents{info: info}, &parentExec{}
		a := &Activities{Parents: p, Keys: keys, Exec: e}
		out, err := a.NotifyParent(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		return p, e, out
	}
	refused := func(t *testing.T, info *workflowpb.WorkflowExecutionInfo, in contract.NotifyParentInput, why string) {
		t.Helper()
		p, e, out := notify(t, info, in)
		if len(p.signals) != 0 {
			t.Fatalf("signalled %s", p.signals[0].GetWorkflowExecution().GetWorkflowId())
		}
		if !strings.Contains(out.Refused, why) || e.refused != out.Refused || e.notified {
			t.Fatalf("refused %q (recorded %q, notified %v), want it to say %q", out.Refused, e.refused, e.notified, why)
		}
	}

	t.Run("a running parent of the environment is signalled under the environment's key", func(t *testing.T) {
		p, e, out := notify(t, parentInfo(t, "Waiter", running, "tenant-a"), in)
		if out.Refused != "" || !e.notified || e.refused != "" || len(p.signals) != 1 {
			t.Fatalf("refused %q, notified %v, %d signals", out.Refused, e.notified, len(p.signals))
		}
		s := p.signals[0]
		if s.GetWorkflowExecution().GetWorkflowId() != "waiter" || s.GetSignalName() != batchwait.SignalName || s.GetRequestId() == "" {
			t.Fatalf("signal %v", s)
		}
		set, _ := keys.EnvKeys("tenant-a")
		envKeys, err := codec.ParseKeys(set)
		if err != nil {
			t.Fatal(err)
		}
		var got batchwait.Completed
		if err := codec.DataConverter(envKeys).FromPayloads(s.GetInput(), &got); err != nil {
			t.Fatalf("the environment's key set cannot read the signal: %v", err)
		}
		if got.BatchID != "batch_1" || got.Status != "COMPLETED" || got.RunCounts["COMPLETED"] != 3 {
			t.Fatalf("signal carries %+v", got)
		}
	})
	t.Run("another environment's parent is refused", func(t *testing.T) {
		refused(t, parentInfo(t, "Waiter", running, "tenant-b"), in, "BatchEnv=tenant-a")
	})
	t.Run("a parent without BatchEnv is refused", func(t *testing.T) {
		refused(t, parentInfo(t, "Waiter", running, ""), in, "BatchEnv=tenant-a")
	})
	t.Run("a parent that ended is refused", func(t *testing.T) {
		refused(t, parentInfo(t, "Waiter", enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, "tenant-a"), in, "not running")
	})
	t.Run("a missing parent is refused", func(t *testing.T) {
		refused(t, nil, in, "not found")
	})
	t.Run("streambatch's own workflows are refused by type", func(t *testing.T) {
		refused(t, parentInfo(t, contract.WorkflowName, running, "tenant-a"), in, "streambatch's own")
	})
	t.Run("streambatch's own workflows are refused by ID", func(t *testing.T) {
		own := in
		own.Parent = "batch_abc-runs"
		refused(t, parentInfo(t, "Waiter", running, "tenant-a"), own, "streambatch's own")
	})
}
