package runs

import (
	"sync"
	"time"
)

// The payloads a DispatchStep claimed travel from the local activity to the
// workflow code beside its result, in this worker process (changePayloadOnce):
// the step's marker holds envelopes without payloads, and each payload
// enters the history once, in its run's activity input. A local activity
// always runs in the process of the workflow task that scheduled it, and
// the workflow takes the payloads while it executes that task; a replay
// takes none, because Temporal matches a replayed activity command by its
// id and type, never by its input.

// asideTTL drops payloads whose workflow task failed before taking them
// (the retried task runs the step again).
const asideTTL = 10 * time.Minute

type asideKey struct {
	workflowID, runID string
	step              int
}

type asideEntry struct {
	payloads map[int]string // by run index
	at       time.Time
}

var aside = struct {
	mu sync.Mutex
	m  map[asideKey]asideEntry
}{m: map[asideKey]asideEntry{}}

// SetAside is called by the DispatchStep local activity when its input asks
// for it (StepInput.Aside): it keeps the payloads of the claimed runs for
// the step of the workflow run the input names and returns the runs without
// them, marked PayloadAside.
func SetAside(in StepInput, runs []Dispatch) []Dispatch {
	payloads := make(map[int]string, len(runs))
	out := make([]Dispatch, len(runs))
	for k, r := range runs {
		payloads[r.Envelope.Index] = r.Envelope.Payload
		r.Envelope.Payload = ""
		r.PayloadAside = true
		out[k] = r
	}
	now := time.Now()
	aside.mu.Lock()
	defer aside.mu.Unlock()
	for k, e := range aside.m {
		if now.Sub(e.at) > asideTTL {
			delete(aside.m, k)
		}
	}
	aside.m[asideKey{in.WorkflowID, in.RunID, in.Step}] = asideEntry{payloads: payloads, at: now}
	return out
}

// takeAside returns (and forgets) the payloads SetAside kept for a step.
func takeAside(in StepInput) (map[int]string, bool) {
	aside.mu.Lock()
	defer aside.mu.Unlock()
	k := asideKey{in.WorkflowID, in.RunID, in.Step}
	e, ok := aside.m[k]
	delete(aside.m, k)
	return e.payloads, ok
}
