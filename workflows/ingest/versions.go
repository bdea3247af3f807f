package ingest

// Changes to BatchIngest that alter its commands, for workflow.GetVersion:
// histories recorded before a change replay the old branch.
const (
	// changeAbortableSeal: Seal runs while the abort signal, cancellation
	// and the seal timeout are still heard; any of them cancels it and
	// aborts (the Abort activity keeps a batch that Seal already sealed).
	changeAbortableSeal = "abortable-seal"
	// changeDrainSeesCancel: a cancellation that arrives while the run
	// drains for continue-as-new aborts instead of being dropped.
	changeDrainSeesCancel = "drain-sees-cancel"
	// changeLocalSmall: inline chunks are enqueued by local activities, a
	// batch that staged nothing seals with a local activity that skips
	// the staging cleanup, the last chunk leaves its BatchRuns hint to the
	// seal, and the SEALING state is not upserted: a batch that arrives in
	// one signal completes in one workflow task. Local attempts that fail
	// fall back to the regular activities (abortable seal included).
	changeLocalSmall = "local-small"
	// changeLocalStaged: a batch's last chunk is enqueued by a local
	// activity even when it was staged, and the seal is local whatever was
	// staged (it then deletes the staging): a batch of one staged chunk
	// (1,000 items of 4 KiB) needs no activity dispatch either.
	changeLocalStaged = "local-staged"
	// changeRunsHere: a batch of at most Input.RunsHere.MaxRuns runs that
	// arrived in the first chunk and was enqueued and sealed by local
	// activities has its runs executed by this workflow (Workflow.Runs),
	// not by a BatchRuns workflow of its own; the seal then tells no
	// BatchRuns and BatchState goes to PROCESSING.
	changeRunsHere = "runs-here"
	// changeNotPendingEnds: a chunk refused because the batch is no longer
	// PENDING (flow.ErrTypeBatchNotPending: aborted through the API before
	// this workflow existed, its first chunk racing the abort) ends the
	// workflow through the abort path at once, instead of leaving it
	// RECEIVING until the seal deadline.
	changeNotPendingEnds = "not-pending-ends"
)
