// Package sweep is the sweeper's flow: the Sweep workflow, which a
// Temporal Schedule (ScheduleID) starts to delete the objects that
// finished batches no longer reference, and its contract (names, input,
// result).
//
// Workflow code here is orchestration only: deterministic, no I/O. Its
// activity, SweepObjects, is implemented in activities/sweep, which this
// package never imports; it refers to it by name.
package sweep
