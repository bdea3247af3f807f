// Package tasks is what a Go task worker needs to execute streambatch runs.
//
// Every run of a batch is a Temporal activity: its activity type is the
// run's task identifier, its task queue is "runs.<environment>" (or
// "runs.<environment>.<queue>" when the item named a queue), and its one
// argument is an Envelope. The activity's return value becomes the run's
// output; an error after the last attempt fails the run. A task worker is
// therefore an ordinary Temporal worker polling that queue; this package
// registers typed task functions on it, decodes envelopes and fetches
// payloads that streambatch stored in S3 (application/store) or sent by
// reference (Envelope.PayloadRefType: a signed URL of streambatch's API,
// for payloads of STREAMBATCH_PAYLOAD_REF_THRESHOLD or more, which then stay
// out of Temporal's history). Register and RegisterRun resolve a reference
// before the task runs, so tasks see every payload as it was sent; the
// worker needs only to reach the API at the URL the reference names.
//
// streambatch encrypts every payload it hands to Temporal, a run's
// envelope under its environment's key: build the worker's Temporal client
// with codec.Apply and that environment's key set (`streambatch
// payload-key --env NAME`), or its runs fail to decode.
//
// A task can opt in to receive up to K runs in one activity, a slice
// (RegisterSliced, RegisterRunSliced): the activity type is
// SliceActivity(task), its input a JSON array of envelopes, its result a
// SliceResult with one SliceOutcome per run, and it heartbeats a
// SliceProgress so that a retried slice runs only its unfinished runs.
// slice.go states the whole contract; the server slices a task only when
// told K (STREAMBATCH_SLICED_TASKS).
//
// Workers in other languages implement the same contract with their own
// Temporal SDK and a payload codec that follows package codec (see
// compat/taskworker-ts/src/codec.ts): read the envelope's JSON, ignore
// fields you do not know.
//
// The package imports nothing of the streambatch server.
package tasks
