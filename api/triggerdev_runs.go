package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store"
	runswf "github.com/streambatch/streambatch/workflows/runs"
)

// The trigger.dev run routes that change one run: runs.replay,
// runs.reschedule and addTags (its metadata: triggerdev_metadata.go).

// maxRunChangeBody bounds the bodies of runs.replay and runs.reschedule.
const maxRunChangeBody = 64 << 10

// readRunChangeBody reads a small JSON object body into a map of its
// members (none for an empty body); false when it answered a refusal.
func readRunChangeBody(c *gin.Context) (map[string]json.RawMessage, bool) {
	if c.Request.ContentLength > maxRunChangeBody {
		fail(c, http.StatusRequestEntityTooLarge, "Request body too large")
		return nil, false
	}
	raw, err := io.ReadAll(io.LimitReader(c.Request.Body, maxRunChangeBody+1))
	if err != nil {
		failBodyRead(c, err)
		return nil, false
	}
	if len(raw) > maxRunChangeBody {
		fail(c, http.StatusRequestEntityTooLarge, "Request body too large")
		return nil, false
	}
	members := map[string]json.RawMessage{}
	if len(strings.TrimSpace(string(raw))) == 0 {
		return members, true
	}
	if err := json.Unmarshal(raw, &members); err != nil {
		fail(c, http.StatusBadRequest, "Invalid JSON: the body must be a JSON object")
		return nil, false
	}
	return members, true
}

// tdReplayRun is POST /api/v1/runs/:runId/replay (runs.replay): a run of a
// COMPLETED batch that failed while executing (FAILED, EXPIRED, TIMED_OUT)
// runs again, once, as a batch replay runs it: under its own id (the
// answer's {id} is the run's; its attempts count on) and through its
// batch's BatchRuns, the batch PROCESSING until the run finishes. The
// SDK's overrides (payload, tags, queue …) are refused: the run replays as
// it was triggered.
func (s *Server) tdReplayRun(c *gin.Context) {
	body, ok := readRunChangeBody(c)
	if !ok {
		return
	}
	if len(body) > 0 {
		keys := make([]string, 0, len(body))
		for k := range body {
			keys = append(keys, truncate(k, 64))
		}
		slices.Sort(keys)
		fail(c, http.StatusBadRequest, "runs.replay overrides are not supported ("+strings.Join(keys, ", ")+
			"): the run replays as it was triggered")
		return
	}
	b, r, ok := s.runOfRequest(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	err := s.store.ReplayRun(ctx, b.ID, r.Index)
	switch {
	case errors.Is(err, store.ErrNotReplayable):
		fail(c, http.StatusUnprocessableEntity, "Run "+r.ID+" is "+string(r.Status)+
			": only a run that failed while executing (FAILED, EXPIRED, TIMED_OUT) can be replayed")
		return
	case errors.Is(err, store.ErrNotCompleted):
		if b.Status == batch.StatusProcessing && r.Status == batch.RunQueued {
			// Perhaps a replay whose hand-over failed: make sure its
			// BatchRuns runs.
			if err := s.runs.Tell(ctx, b.ID, b.EnvName, runswf.HintFrom(r.Index)); err != nil {
				s.failInternal(c, err, true)
				return
			}
		}
		fail(c, http.StatusUnprocessableEntity, "Run "+r.ID+"'s batch is "+string(b.Status)+
			": a run is replayed once its batch is COMPLETED")
		return
	case err != nil:
		s.failInternal(c, err, true)
		return
	}
	if err := s.runs.Tell(ctx, b.ID, b.EnvName, runswf.HintFrom(r.Index)); err != nil {
		// The run is queued again; the next hint (or an operator) starts
		// it. Report the fault so the client can retry the call.
		s.failInternal(c, err, true)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": r.ID})
}

// tdRescheduleRun is POST /api/v1/runs/:runId/reschedule (runs.reschedule,
// body {delay}: a duration such as "30m" from now, or a date): a DELAYED
// run waits until then instead. The answer is the run
// (RetrieveRunResponse); a run that is not DELAYED is refused.
func (s *Server) tdRescheduleRun(c *gin.Context) {
	body, ok := readRunChangeBody(c)
	if !ok {
		return
	}
	until, msg := parseRescheduleDelay(body["delay"], time.Now())
	if msg != "" {
		fail(c, http.StatusBadRequest, msg)
		return
	}
	b, r, ok := s.runOfRequest(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	run, err := s.store.RescheduleRun(ctx, b.ID, r.Index, until)
	if errors.Is(err, store.ErrNotDelayed) {
		now, gerr := s.store.GetRun(ctx, b.ID, r.Index)
		if gerr == nil {
			r = now
		}
		fail(c, http.StatusUnprocessableEntity, "Run "+r.ID+" is "+string(r.Status)+": only a DELAYED run can be rescheduled")
		return
	}
	if err != nil {
		s.failInternal(c, err, true)
		return
	}
	// BatchRuns arms its timer for the earliest delay at its next step.
	if err := s.runs.Tell(ctx, b.ID, b.EnvName, runswf.Hint{}); err != nil {
		s.failInternal(c, err, true)
		return
	}
	s.writeTDRun(c, b, run)
}

// parseRescheduleDelay reads runs.reschedule's delay: a duration from now
// ("30s", "1h30m", "2d") or an RFC 3339 date (a Date the SDK serialised);
// msg says what is wrong.
func parseRescheduleDelay(raw json.RawMessage, now time.Time) (until time.Time, msg string) {
	const want = `delay must be a duration such as "30s", "10m" or "1h30m", or an RFC 3339 date`
	var v string
	if raw == nil || json.Unmarshal(raw, &v) != nil {
		return time.Time{}, want
	}
	if d, err := batch.ParseTriggerDuration(v); err == nil {
		return now.Add(d), ""
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, ""
	}
	return time.Time{}, want
}

// tdAddTags is POST /api/v1/runs/:runId/tags (ApiClient.addTags): body
// {tags: a tag or an array of tags}. The run's tags
// gain those it lacks, after its own; more than batch.MaxRunTags in all is
// refused. runs.retrieve and runs.list show them at once; a task worker
// sees them in the runs dispatched afterwards.
func (s *Server) tdAddTags(c *gin.Context) {
	body, ok := readRunChangeBody(c)
	if !ok {
		return
	}
	tags, msg := parseTags(body["tags"])
	if msg != "" {
		fail(c, http.StatusBadRequest, msg)
		return
	}
	b, r, ok := s.runOfRequest(c)
	if !ok {
		return
	}
	n, err := s.store.AddRunTags(c.Request.Context(), b.ID, r.Index, tags)
	if errors.Is(err, store.ErrTooManyTags) {
		fail(c, http.StatusUnprocessableEntity, "Runs can only have "+strconv.Itoa(batch.MaxRunTags)+" tags: run "+r.ID+
			" has "+strconv.Itoa(len(batch.StoredItemOptions(r.Options).Tags))+" and would have more with "+strings.Join(tags, ", "))
		return
	}
	if err != nil {
		s.failInternal(c, err, true)
		return
	}
	c.JSON(http.StatusOK, gin.H{"message": "Successfully set " + strconv.Itoa(n) + " new tags."})
}

// parseTags reads AddTagsRequestBody.tags: one tag or an array of them,
// each at most batch.MaxTagChars characters; msg says what is wrong.
func parseTags(raw json.RawMessage) (tags []string, msg string) {
	const want = "tags must be a tag or an array of tags"
	var one string
	if raw == nil {
		return nil, want
	}
	if json.Unmarshal(raw, &one) == nil {
		tags = []string{one}
	} else if json.Unmarshal(raw, &tags) != nil || tags == nil {
		return nil, want
	}
	for _, t := range tags {
		if batch.TagChars(t) > batch.MaxTagChars {
			return nil, "tags must be less than " + strconv.Itoa(batch.MaxTagChars) + " characters: " + strconv.Quote(truncate(t, 64))
		}
	}
	return tags, ""
}
