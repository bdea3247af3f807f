// Package runs is the run-execution flow's workflow side: BatchRuns, which
// dispatches a batch's runs to the users' task workers, records their
// outcomes, completes or aborts the batch and tells its parent workflow,
// with its contract (names, inputs, results) and the client the activities
// and the API use to start, signal and wait for it.
//
// Files follow the workflow's seams: workflow.go (the loop and its state),
// schedule.go (dispatch steps, run activities, timers, outcomes),
// finish.go (completion, abort, the parent), versions.go (the GetVersion
// change ids).
//
// Workflow code here is orchestration only: deterministic, no I/O. Its
// local activities are implemented in activities/runs, which it never
// imports; it refers to them by name. Recorded histories live in testdata
// and must keep replaying.
package runs
