package runs

import (
	"time"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/tasks"
)

// Claimed is the runs a DispatchStep claimed, as its marker records them
// (changeCompactClaims): each distinct activity shape once, and the runs,
// in the order of the step's result, as spans of consecutive indexes of one
// shape and one attempt. The envelopes' contents (payload, options,
// metadata) are set aside whole (Aside) and enter the history once, in the
// activity inputs; a replay, which never needs an activity input, rebuilds
// envelopes holding the run's id, batch, index, task and attempt only.
type Claimed struct {
	Shapes []RunShape  `json:"shapes"`
	Spans  []ClaimSpan `json:"spans"`
}

// RunShape is what a Dispatch holds besides its envelope's contents.
type RunShape struct {
	Task            string        `json:"task"`
	TaskQueue       string        `json:"taskQueue"`
	MaxAttempts     int           `json:"maxAttempts"`
	StartToClose    time.Duration `json:"startToClose"`
	ScheduleToStart time.Duration `json:"scheduleToStart,omitempty"`
	Priority        int           `json:"priority,omitempty"`
	Slice           int           `json:"slice,omitempty"`
}

// ClaimSpan is N (0 meaning 1) runs of Shapes[Shape] at indexes From,
// From+1, …, dispatched with Envelope.Attempt Attempt (0 meaning 1) and
// Dispatch.Prior Prior.
type ClaimSpan struct {
	Shape   int `json:"s,omitempty"`
	From    int `json:"i"`
	N       int `json:"n,omitempty"`
	Attempt int `json:"a,omitempty"`
	Prior   int `json:"p,omitempty"`
}

// shapeOf returns a run's shape: runs of one shape may share a span of
// Claimed and a slice (sliceGroups).
func shapeOf(d Dispatch) RunShape {
	return RunShape{Task: d.Envelope.Task, TaskQueue: d.TaskQueue, MaxAttempts: d.MaxAttempts, StartToClose: d.StartToClose,
		ScheduleToStart: d.ScheduleToStart, Priority: d.Priority, Slice: d.Slice}
}

// claim returns runs as Claimed.
func claim(runs []Dispatch) *Claimed {
	c := &Claimed{}
	shapes := map[RunShape]int{}
	for _, d := range runs {
		sh := shapeOf(d)
		k, ok := shapes[sh]
		if !ok {
			k = len(c.Shapes)
			shapes[sh] = k
			c.Shapes = append(c.Shapes, sh)
		}
		attempt := d.Envelope.Attempt
		if attempt == 1 {
			attempt = 0
		}
		if n := len(c.Spans); n > 0 {
			last := &c.Spans[n-1]
			if last.Shape == k && last.Attempt == attempt && last.Prior == d.Prior && last.From+max(last.N, 1) == d.Envelope.Index {
				last.N = max(last.N, 1) + 1
				continue
			}
		}
		c.Spans = append(c.Spans, ClaimSpan{Shape: k, From: d.Envelope.Index, Attempt: attempt, Prior: d.Prior})
	}
	return c
}

// Dispatches rebuilds the claimed runs of batch batchID, in order, with
// envelopes holding the run's id, batch, index, task and attempt: the
// workflow fills in the rest from Aside, except in a replay.
func (c *Claimed) Dispatches(batchID string) []Dispatch {
	if c == nil {
		return nil
	}
	var out []Dispatch
	for _, sp := range c.Spans {
		if sp.Shape < 0 || sp.Shape >= len(c.Shapes) {
			continue // not what claim writes
		}
		sh := c.Shapes[sp.Shape]
		for i := sp.From; i < sp.From+max(sp.N, 1); i++ {
			out = append(out, Dispatch{
				Envelope:  tasks.Envelope{ID: batch.RunID(batchID, i), BatchID: batchID, Index: i, Task: sh.Task, Attempt: max(sp.Attempt, 1)},
				TaskQueue: sh.TaskQueue, MaxAttempts: sh.MaxAttempts, StartToClose: sh.StartToClose,
				ScheduleToStart: sh.ScheduleToStart, Priority: sh.Priority, PayloadAside: true, Slice: sh.Slice, Prior: sp.Prior,
			})
		}
	}
	return out
}
