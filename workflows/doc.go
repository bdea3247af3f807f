// Package workflows holds BatchIngest, the per-batch Temporal workflow that
// turns signalled chunks into runs and seals the batch, together with its
// contract: workflow, signal, query and activity names, their input and
// result types, and a small client for the API side.
//
// Workflow code here is orchestration only: deterministic, no I/O. The
// activities it schedules are implemented in package activities, which it
// never imports; it refers to them by name.
package workflows
