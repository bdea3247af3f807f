package runs

import (
	"sync"
	"time"

	"github.com/streambatch/streambatch/tasks"
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
	payloads map[int]aside // by run index
	at       time.Time
}

// aside is what Set kept of one envelope.
type aside struct {
	payload string
	url     string // PayloadURL, with StepInput.ByRef
	// envelope is the whole envelope, with StepInput.Compact.
	envelope *tasks.Envelope
}

// Aside holds the payloads DispatchStep set aside until the workflow takes
// them. One Aside is shared by a worker's BatchRuns (Workflow.Aside) and its
// DispatchStep local activity; its zero value is ready to use.
type Aside struct {
	mu sync.Mutex
	m  map[asideKey]asideEntry
}

// SetStep is called by the DispatchStep local activity with the result it
// is about to return, when its input asks for it (StepInput.Aside): with
// StepInput.Compact it keeps the claimed runs' envelopes whole and turns
// out.Runs into out.Claimed; without, it keeps their payloads (Set).
func (a *Aside) SetStep(in StepInput, out *StepResult) {
	if len(out.Runs) == 0 {
		return
	}
	if !in.Compact {
		out.Runs = a.Set(in, out.Runs)
		return
	}
	kept := make(map[int]aside, len(out.Runs))
	for _, r := range out.Runs {
		e := r.Envelope
		kept[e.Index] = aside{envelope: &e}
	}
	a.keep(in, kept)
	out.Claimed, out.Runs = claim(out.Runs), nil
}

// Set is called by the DispatchStep local activity when its input asks for
// it (StepInput.Aside): it keeps the payloads of the claimed runs (and,
// with StepInput.ByRef, their payload URLs) for the step of the workflow
// run the input names and returns the runs without them, marked
// PayloadAside.
func (a *Aside) Set(in StepInput, runs []Dispatch) []Dispatch {
	payloads := make(map[int]aside, len(runs))
	out := make([]Dispatch, len(runs))
	for k, r := range runs {
		p := aside{payload: r.Envelope.Payload}
		r.Envelope.Payload = ""
		if in.ByRef {
			p.url, r.Envelope.PayloadURL = r.Envelope.PayloadURL, ""
		}
		payloads[r.Envelope.Index] = p
		r.PayloadAside = true
		out[k] = r
	}
	a.keep(in, payloads)
	return out
}

// keep holds what a step set aside until the workflow takes it.
func (a *Aside) keep(in StepInput, payloads map[int]aside) {
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, e := range a.m {
		if now.Sub(e.at) > asideTTL {
			delete(a.m, k)
		}
	}
	if a.m == nil {
		a.m = map[asideKey]asideEntry{}
	}
	a.m[asideKey{in.WorkflowID, in.RunID, in.Step}] = asideEntry{payloads: payloads, at: now}
}

// take returns (and forgets) the payloads Set kept for a step.
func (a *Aside) take(in StepInput) (map[int]aside, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := asideKey{in.WorkflowID, in.RunID, in.Step}
	e, ok := a.m[k]
	delete(a.m, k)
	return e.payloads, ok
}
