package sweep

import "time"

// Names of the sweeper's workflow and activity.
const (
	// WorkflowName is the workflow a Temporal Schedule
	// (ScheduleID) starts to remove the objects finished batches no
	// longer reference.
	WorkflowName = "Sweep"
	// ActivitySweepObjects sweeps a page of finished batches.
	ActivitySweepObjects = "SweepObjects"
	// ScheduleID is the Temporal Schedule that runs Sweep.
	ScheduleID = "streambatch-sweep"
)

// Input says which batches a sweep takes: those finished (sealed or
// aborted) more than Grace ago and not swept since, Limit per activity.
type Input struct {
	Grace time.Duration `json:"grace"`
	Limit int           `json:"limit"`
	// ExpireOnly: object sweeping is off (STREAMBATCH_SWEEP_EVERY=0), so
	// the sweep only expires the batches past their seal deadline that
	// never received an item.
	ExpireOnly bool `json:"expireOnly,omitempty"`
}

// Result counts what a sweep did.
type Result struct {
	Batches int `json:"batches"`
	Deleted int `json:"deleted"`
	Kept    int `json:"kept"`
	// More reports a full page: more batches may wait.
	More bool `json:"more"`
	// Expired counts PENDING batches past their seal deadline whose
	// BatchIngest the sweep started (or found running) to abort them.
	Expired int `json:"expired,omitempty"`
}
