package runs

// Changes to BatchRuns that alter its commands, for workflow.GetVersion:
// histories recorded before a change replay the old branch.
const (
	// changeCheckedParent: the parent is signalled by the NotifyParent
	// local activity (checked: running, BatchEnv equal to the batch's
	// environment; encrypted under the environment's key) instead of a
	// SignalExternalWorkflow command.
	changeCheckedParent = "checked-parent"
	// changePayloadOnce: a DispatchStep's result (its marker) carries the
	// claimed runs without their payloads, which reach the workflow through
	// Aside.Set: each run's payload enters the history once, in its
	// activity's input.
	changePayloadOnce = "payload-once"
	// changePayloadRef: a step that sets payloads aside (changePayloadOnce)
	// may also send payloads by reference (StepInput.ByRef): their
	// envelopes carry a signed URL instead of the payload, and that URL,
	// like a payload, is set aside and enters the history once, in the
	// activity input.
	changePayloadRef = "payload-ref"
)
