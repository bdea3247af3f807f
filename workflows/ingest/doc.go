// Package ingest is the ingest flow's workflow side: BatchIngest, the
// per-batch Temporal workflow that turns signalled chunks into runs and
// seals the batch, with its contract (workflow, signal, query and activity
// names, their input and result types) and the small client the API uses
// to start, signal, query and wait for it.
//
// Files follow the workflow's seams: workflow.go (the loop and its state),
// schedule.go (accepting chunks, the activity window), finish.go (seal and
// abort), versions.go (the GetVersion change ids).
//
// Workflow code here is orchestration only: deterministic, no I/O. The
// activities it schedules are implemented in activities/ingest, which it
// never imports; it refers to them by name. Recorded histories live in
// testdata and must keep replaying.
package ingest
