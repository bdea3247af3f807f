package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// A sliced task receives up to K runs in one activity (a slice) instead of
// one activity per run, so that Temporal schedules, records and bills one
// activity for K runs. The contract, for task workers in any language:
//
//   - Activity type: SliceActivity(task), "<task>/slice", on the same task
//     queue as the task's runs. A worker that registers it also registers
//     the plain task (one run per activity): a run that failed in a slice
//     is retried alone, as an ordinary run activity.
//   - Input: one argument, a JSON array of Envelope, one per run (each with
//     its own Attempt, and MaxDurationMs, the longest one attempt of that
//     run may take).
//   - Result: a SliceResult, {"runs": [SliceOutcome…]}, one outcome per run
//     of the input, in any order: {"index", "attempts", "output"} for a run
//     that succeeded (output: its result as JSON text, absent for none), or
//     {"index", "attempts", "error": {"type", "message", "nonRetryable",
//     "timeout"}} for one that failed. A failed run does not fail the
//     activity: streambatch retries it alone (its own attempt count,
//     maxAttempts and maxDuration). "attempts" is how many attempts of the
//     run the slice made (1, or more after the slice activity itself was
//     retried).
//   - Heartbeats: while it works, the activity heartbeats a SliceProgress
//     (finished runs' outcomes in "done", attempts begun in "tries"),
//     within the activity's heartbeat timeout. When the activity is retried
//     (its worker died or stopped heartbeating), the next attempt reads the
//     last heartbeat's details, returns the finished runs' outcomes as they
//     were and executes only the others: a dead worker loses only its
//     unfinished runs.
//   - An error of the activity itself (not of a run) fails every run the
//     last heartbeat did not report finished, once the activity's attempts
//     (the runs' maxAttempts) are spent.
//
// Which tasks streambatch slices, and K, is the server's setting
// (STREAMBATCH_SLICED_TASKS on the worker process, e.g.
// "send-email=50,prod/resize=20"): register the task with RegisterSliced
// (or RegisterRunSliced) before you name it there.

// SliceSuffix ends a sliced task's activity type.
const SliceSuffix = "/slice"

// SliceActivity returns the activity type of task's slices.
func SliceActivity(task string) string { return task + SliceSuffix }

// SliceOutcome is how one run of a slice ended.
type SliceOutcome struct {
	// Index is the run's index in its batch (Envelope.Index).
	Index int `json:"index"`
	// Attempts is how many attempts of this run the slice made (≥ 1).
	Attempts int `json:"attempts"`
	// Output is the run's result as JSON text (absent: none).
	Output json.RawMessage `json:"output,omitempty"`
	// Error, when set, says why the run failed.
	Error *SliceError `json:"error,omitempty"`
}

// SliceError is the error of a run that failed in a slice.
type SliceError struct {
	// Type becomes the run's error code (empty: TASK_FAILED).
	Type    string `json:"type,omitempty"`
	Message string `json:"message"`
	// NonRetryable fails the run at once, whatever attempts remain.
	NonRetryable bool `json:"nonRetryable,omitempty"`
	// Timeout: the attempt ran longer than the run's maxDuration.
	Timeout bool `json:"timeout,omitempty"`
}

// SliceResult is a slice activity's result.
type SliceResult struct {
	Runs []SliceOutcome `json:"runs"`
}

// SliceProgress is what a slice activity heartbeats: the runs it finished
// and the attempts it began of the others.
type SliceProgress struct {
	Done []SliceOutcome `json:"done,omitempty"`
	// Tries counts, by run index, the attempts begun of unfinished runs
	// (JSON object keys are the indexes as text).
	Tries map[int]int `json:"tries,omitempty"`
}

// RegisterSliced registers fn as the task named task, as Register does,
// and as its slice activity (SliceActivity(task)): each run of a slice is
// decoded and passed to fn like a single run, several at once (at most
// Options.SliceParallel; 0: the whole slice).
func RegisterSliced[In, Out any](r Registry, task string, fn func(ctx context.Context, payload In) (Out, error), opts ...Options) {
	Register(r, task, fn, opts...)
	registerSlice(r, task, func(ctx context.Context, run *Run) (any, error) {
		var in In
		if err := run.Decode(ctx, &in); err != nil {
			return nil, err
		}
		return fn(context.WithValue(ctx, runKey{}, run), in)
	}, opts)
}

// RegisterRunSliced registers fn as RegisterRun does, and as the task's
// slice activity (see RegisterSliced).
func RegisterRunSliced[Out any](r Registry, task string, fn func(ctx context.Context, run *Run) (Out, error), opts ...Options) {
	RegisterRun(r, task, fn, opts...)
	registerSlice(r, task, func(ctx context.Context, run *Run) (any, error) {
		return fn(context.WithValue(ctx, runKey{}, run), run)
	}, opts)
}

type runFunc func(ctx context.Context, run *Run) (any, error)

func registerSlice(r Registry, task string, fn runFunc, opts []Options) {
	hc := httpClient(opts)
	parallel := 0
	if len(opts) > 0 {
		parallel = opts[0].SliceParallel
	}
	r.RegisterActivityWithOptions(func(ctx context.Context, envs []Envelope) (SliceResult, error) {
		return runSlice(ctx, envs, fn, hc, parallel)
	}, activity.RegisterOptions{Name: SliceActivity(task)})
}

// slice is one attempt of a slice activity.
type slice struct {
	mu       sync.Mutex
	progress SliceProgress
	done     map[int]bool
	beat     func(SliceProgress)
}

func (s *slice) finish(o SliceOutcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.progress.Done = append(s.progress.Done, o)
	delete(s.progress.Tries, o.Index)
	s.done[o.Index] = true
}

func (s *slice) begin(index int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.progress.Tries[index]++
	return s.progress.Tries[index]
}

func (s *slice) heartbeat() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.heartbeatLocked()
}

func (s *slice) heartbeatLocked() {
	if s.beat != nil {
		s.beat(s.snapshotLocked())
	}
}

// snapshot returns a copy of the progress, for a heartbeat.
func (s *slice) snapshot() SliceProgress {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snapshotLocked()
}

func (s *slice) snapshotLocked() SliceProgress {
	p := SliceProgress{Done: append([]SliceOutcome(nil), s.progress.Done...), Tries: make(map[int]int, len(s.progress.Tries))}
	for k, v := range s.progress.Tries {
		p.Tries[k] = v
	}
	return p
}

// runSlice executes the runs of envs the last heartbeat did not report
// finished and returns every run's outcome. It heartbeats its progress
// every third of the heartbeat timeout (the SDK sends at most one
// heartbeat per 0.8 × that timeout): a slice that ends sooner sends none.
func runSlice(ctx context.Context, envs []Envelope, fn runFunc, hc *http.Client, parallel int) (SliceResult, error) {
	s := &slice{done: map[int]bool{}, progress: SliceProgress{Tries: map[int]int{}}}
	var every time.Duration
	if activity.IsActivity(ctx) {
		if activity.HasHeartbeatDetails(ctx) {
			var last SliceProgress
			if err := activity.GetHeartbeatDetails(ctx, &last); err == nil {
				s.progress.Done = last.Done
				for k, v := range last.Tries {
					s.progress.Tries[k] = v
				}
			}
		}
		s.beat = func(p SliceProgress) { activity.RecordHeartbeat(ctx, p) }
		every = activity.GetInfo(ctx).HeartbeatTimeout / 3
	}
	for _, o := range s.progress.Done {
		s.done[o.Index] = true
	}
	if every > 0 {
		tick := time.NewTicker(every)
		stop := make(chan struct{})
		defer func() { close(stop); tick.Stop() }()
		go func() {
			for {
				select {
				case <-tick.C:
					s.heartbeat()
				case <-stop:
					return
				}
			}
		}()
	}
	if parallel <= 0 || parallel > len(envs) {
		parallel = max(len(envs), 1)
	}
	var todo []Envelope // read before any run finishes (s.done changes)
	for _, env := range envs {
		if !s.done[env.Index] {
			todo = append(todo, env)
		}
	}
	slots := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for _, env := range todo {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return SliceResult{}, ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			tries := s.begin(env.Index)
			s.finish(runOne(context.WithValue(ctx, sliceKey{}, s), env, tries, fn, hc))
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return SliceResult{}, err // cancelled or timed out: the outcomes are in the heartbeats
	}
	return SliceResult{Runs: s.progress.Done}, nil
}

// runOne executes one run of a slice within its maxDuration.
func runOne(ctx context.Context, env Envelope, tries int, fn runFunc, hc *http.Client) (o SliceOutcome) {
	o = SliceOutcome{Index: env.Index, Attempts: tries}
	run := &Run{Envelope: env, Attempt: max(env.Attempt, 1) - 1 + tries, http: hc}
	rctx, cancel := ctx, context.CancelFunc(func() {})
	if env.MaxDurationMs > 0 {
		rctx, cancel = context.WithTimeout(ctx, time.Duration(env.MaxDurationMs)*time.Millisecond)
	}
	defer cancel()
	type answer struct {
		out any
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- answer{err: fmt.Errorf("panic: %v", p)}
			}
		}()
		if err := run.resolveRef(rctx); err != nil { // a payload by reference
			ch <- answer{err: err}
			return
		}
		out, err := fn(context.WithValue(rctx, runKey{}, run), run)
		ch <- answer{out, err}
	}()
	var a answer
	select {
	case a = <-ch:
	case <-rctx.Done():
		// The task ignores its context: report the run and leave it.
		a.err = rctx.Err()
	}
	if a.err == nil {
		raw, err := json.Marshal(a.out)
		if err != nil {
			o.Error = &SliceError{Type: "OutputNotJSON", Message: "run " + env.ID + ": output: " + err.Error(), NonRetryable: true}
			return o
		}
		if string(raw) != "null" {
			o.Output = raw
		}
		return o
	}
	o.Error = sliceError(a.err)
	if ctx.Err() == nil && errors.Is(rctx.Err(), context.DeadlineExceeded) {
		o.Error = &SliceError{Type: "TimeoutError", Message: fmt.Sprintf("the attempt ran longer than maxDuration (%v)", time.Duration(env.MaxDurationMs)*time.Millisecond), Timeout: true}
	}
	return o
}

// sliceError describes a run's error as the Temporal SDK would describe it
// as an activity failure: an application error keeps its type and message,
// any other error is named by its Go type.
func sliceError(err error) *SliceError {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return &SliceError{Type: app.Type(), Message: app.Message(), NonRetryable: app.NonRetryable()}
	}
	t := reflect.TypeOf(err)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return &SliceError{Type: t.Name(), Message: err.Error()}
}
