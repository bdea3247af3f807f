// Package flow holds what streambatch's workflows share: the search
// attribute keys they keep current, the application error type both
// flows use, the retry policy of activities that must stay visible, the
// first-reason-wins rule of aborts, and the recognition of a namespace
// that does not accept the search attributes yet.
//
// It is imported by the flows (workflows/ingest, workflows/runs,
// workflows/sweep), never the other way round: it names no workflow,
// activity, signal or query, and does no I/O.
package flow
