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
	// changeQueueLimits: a step that leaves runs waiting for a slot of
	// their queue (StepResult.Blocked) keeps the claim cursor at the first
	// of them and claims again when one of the run's own runs ends, when a
	// runs-ready hint comes (the step that freed a slot elsewhere sends
	// it), or, as a fallback, after a timer (queueRetryFirst doubling to
	// queueRetryMax).
	changeQueueLimits = "queue-limits"
	// changeSliced: runs whose task takes slices (Dispatch.Slice) are
	// dispatched K at a time in one activity (tasks.SliceActivity); a run
	// that fails in a slice is retried alone through the next
	// DispatchStep (StepInput.Retry).
	changeSliced = "sliced-dispatch"
	// changePayloadRef: a step that sets payloads aside (changePayloadOnce)
	// may also send payloads by reference (StepInput.ByRef): their
	// envelopes carry a signed URL instead of the payload, and that URL,
	// like a payload, is set aside and enters the history once, in the
	// activity input.
	changePayloadRef = "payload-ref"
	// changeWindowActivities: the window (Input.Concurrency) counts run
	// activities in flight, a slice as one, instead of runs, and a free
	// place claims as many runs as the last claim's largest slice (up to
	// maxClaimRuns a step): with slices of K runs it holds up to
	// Concurrency full slices, where it held Concurrency/K of them and
	// their round trips bounded the rate. Read when a step is to claim
	// while a slice is in flight; without one both count the same.
	changeWindowActivities = "window-activities"
	// changeCompactClaims: a step that sets payloads aside also sets the
	// claimed runs' envelopes aside (StepInput.Compact): its marker holds
	// the runs as Claimed (each activity shape once, runs as spans of
	// consecutive indexes), a few bytes per step where each run's Dispatch
	// took about 250, and the workflow rebuilds the Dispatch list from it.
	// Each envelope enters the history once, in its activity's input.
	changeCompactClaims = "compact-claims"
	// changeHandOverForwards: Execute, having handed a batch's runs over
	// to BatchRuns, passes on to it the aborts and hints that reached the
	// calling workflow meanwhile (SignalExternalWorkflow), where they were
	// left unread.
	changeHandOverForwards = "hand-over-forwards"
)
