package runs

import (
	"time"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/tasks"
	contract "github.com/streambatch/streambatch/workflows/runs"
)

// PayloadRefs sends large payloads to task workers by reference: instead of
// the payload, the run's envelope carries a signed URL of the API's payload
// route (batch.PayloadRefPath), valid for TTL, with PayloadType
// application/store (workers that predate references fetch it as any
// stored payload) and PayloadRefType the payload's own type (package tasks
// restores it before the task runs). The payload then never enters
// Temporal's history.
type PayloadRefs struct {
	Signer *batch.PayloadRefSigner
	// BaseURL is the API's URL as task workers reach it
	// (STREAMBATCH_PAYLOAD_REF_URL).
	BaseURL string
	// Threshold is the payload size from which a payload goes by reference
	// (STREAMBATCH_PAYLOAD_REF_THRESHOLD, > 0).
	Threshold int
	// TTL is how long a reference stays valid after the dispatch
	// (STREAMBATCH_PAYLOAD_REF_TTL).
	TTL time.Duration
}

// refFrom is the payload size from which this step sends payloads by
// reference (0: none): what the claim counts as a reference's size
// (store.Step.RefFrom) and what byRef acts on.
func (p *PayloadRefs) refFrom(in contract.StepInput) int {
	if p == nil || p.Signer == nil || p.Threshold <= 0 || !in.ByRef {
		return 0
	}
	return p.Threshold
}

// byRef turns an envelope's inline payload into a reference when the step
// allows it (the workflow took changePayloadRef) and the payload is large
// enough. Stored payloads keep their presigned S3 URL.
func (p *PayloadRefs) byRef(in contract.StepInput, e *tasks.Envelope) {
	from := p.refFrom(in)
	if from == 0 || e.PayloadType == batch.PayloadTypeStore || len(e.Payload) < from {
		return
	}
	e.PayloadRefType = e.PayloadType
	if e.PayloadRefType == "" {
		e.PayloadRefType = tasks.PayloadTypeJSON
	}
	e.PayloadType, e.Payload = batch.PayloadTypeStore, ""
	e.PayloadURL = p.Signer.URL(p.BaseURL, in.Env, e.ID, in.Now.Add(p.TTL))
}
