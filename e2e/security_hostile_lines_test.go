package e2e

// Hostile input, part 1: the shared helpers and the Phase 2 lines (what a
// client puts inside the NDJSON body). Every refused case must answer the
// documented 4xx with a {"error": ...} message that names the problem,
// never a 5xx, and must leave no run and no packet object behind.
//
// Run: go test ./e2e -count=1 -run 'TestHostile|TestSecurity' -v

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/streambatch/streambatch/batch"
)

// hxWantError checks a refused request: the status, a body that is exactly
// {"error": "<non-empty>"}, and a message containing want.
func hxWantError(t *testing.T, what string, r reply, status int, want string) {
	t.Helper()
	if r.StatusCode >= 500 {
		t.Errorf("%s: SERVER ERROR %s", what, r)
		return
	}
	if r.StatusCode != status {
		t.Errorf("%s: got %s, want %d containing %q", what, r, status, want)
		return
	}
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil || len(m) != 1 {
		t.Errorf("%s: body is not {\"error\": ...}: %s", what, r)
		return
	}
	msg, _ := m["error"].(string)
	if msg == "" || !strings.Contains(msg, want) {
		t.Errorf("%s: message %q does not contain %q", what, msg, want)
	}
	if len(msg) > 400 {
		t.Errorf("%s: message of %d bytes echoes too much: %q", what, len(msg), cut(msg, 200))
	}
}

// hxStream posts an NDJSON body (chunked, as the trigger.dev SDK sends it).
func (s *stack) hxStream(t *testing.T, key, id string, body []byte) reply {
	t.Helper()
	return send(t, boundedClient, http.MethodPost, s.URL+itemsPath(id), chunked(body), withKey(key, "application/x-ndjson"))
}

// hxAccepted returns how many indexes the workflow has accepted (its own view,
// which includes signalled chunks not yet written to PostgreSQL).
func (s *stack) hxAccepted(t *testing.T, key, id string) int {
	t.Helper()
	return s.missing(t, key, id).AcceptedCount
}

// hxPackets lists the packet objects of an environment.
func (s *stack) hxPackets(t *testing.T, env string) []string {
	t.Helper()
	keys, err := s.app.Blob.List(context.Background(), batch.PacketPrefix(env))
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// hxAssertNothingStray checks, after a group of refused requests, that the
// batch accepted nothing (neither in the workflow nor in PostgreSQL), that
// the environment has no packet object, and then proves it by streaming
// the complete batch: every index must be accepted fresh (none
// deduplicated) and every run must carry the good payload.
func (s *stack) hxAssertNothingStray(t *testing.T, env, key, id string, runCount int) {
	t.Helper()
	s.hxAssertOnlyEarlierLines(t, env, key, id, runCount, nil)
}

// hxAssertOnlyEarlierLines is hxAssertNothingStray for refused requests
// whose complete, valid lines before the refusal are kept (as the README
// says): only the indexes in earlier may have been accepted, and their runs
// keep what those lines carried.
func (s *stack) hxAssertOnlyEarlierLines(t *testing.T, env, key, id string, runCount int, earlier map[int]bool) {
	t.Helper()
	if len(earlier) > 0 {
		waitRuns(t, s, id, len(earlier))
	}
	if n := s.hxAccepted(t, key, id); n != len(earlier) {
		t.Errorf("STRAY: the workflow accepted %d indexes from refused requests", n)
	}
	if b := s.batchStatus(t, key, id); b.EnqueuedCount != len(earlier) || b.Status != "PENDING" {
		t.Errorf("STRAY: batch after refused requests: %+v", b)
	}
	wantPackets := 0
	for _, run := range s.runs(t, key, id) {
		if !earlier[run.Index] {
			t.Errorf("STRAY: run %d from a refused request", run.Index)
		}
		if run.PayloadType == "application/store" {
			wantPackets++
		}
	}
	if keys := s.hxPackets(t, env); len(keys) != wantPackets {
		t.Errorf("STRAY: packet objects after refused requests: %v", keys)
	}
	items := make([]item, runCount)
	for i := range items {
		items[i] = item{Index: i, Task: "good", Payload: fmt.Sprintf("good-%d", i)}
	}
	r := s.hxStream(t, key, id, ndjson(items))
	var res streamResp
	if r.StatusCode != 200 || json.Unmarshal(r.Body, &res) != nil || !res.Sealed || res.ItemsAccepted != runCount-len(earlier) || res.ItemsDeduplicated != len(earlier) {
		t.Fatalf("STRAY: the clean stream after the refused ones: %s", r)
	}
	for _, run := range s.runs(t, key, id) {
		if earlier[run.Index] {
			continue // the first delivery of an index wins
		}
		if run.Task != "good" || run.Payload == nil || *run.Payload != fmt.Sprintf("good-%d", run.Index) || run.Status != "QUEUED" {
			t.Errorf("STRAY: run %d is %+v", run.Index, run)
		}
	}
}

// hxLineCase is one hostile Phase 2 body and the refusal it must get.
type hxLineCase struct {
	name   string
	body   string
	status int
	want   string
}

// The Phase 2 lines: syntax, non-objects, indexes, tasks, options and
// payloads. All cases hit one batch (runCount 3), which must stay empty.
func TestHostilePhase2Lines(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	const runCount = 3
	id := s.mustCreate(t, key, runCount)
	nest := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	cases := []hxLineCase{
		// Not JSON.
		{"invalid JSON", `{"index":0,`, 400, "Invalid JSON at line 1"},
		{"invalid JSON after blank lines", "\n\r\n" + `{"index":0,"task":}`, 400, "Invalid JSON at line 3"},
		{"trailing garbage", `{"index":0,"task":"t"} x`, 400, "Invalid JSON at line 1"},
		{"two objects on one line", `{"index":0,"task":"t"}{"index":1,"task":"t"}`, 400, "Invalid JSON at line 1"},
		{"single quotes", `{'index':0,'task':'t'}`, 400, "Invalid JSON at line 1"},
		{"NaN index", `{"index":NaN,"task":"t"}`, 400, "Invalid JSON at line 1"},
		{"leading zero index", `{"index":007,"task":"t"}`, 400, "Invalid JSON at line 1"},
		{"invalid UTF-8", "{\"index\":0,\"task\":\"\xff\xfe\"}", 400, "Invalid UTF-8 at line 1"},
		{"nesting bomb (20,000 deep)", `{"index":0,"task":"t","payload":` + nest + `}`, 400, "Invalid JSON at line 1"},
		// Not an object.
		{"array", `[{"index":0,"task":"t"}]`, 422, "expected a JSON object, got array"},
		{"string", `"{\"index\":0}"`, 422, "expected a JSON object, got string"},
		{"number", `42`, 422, "expected a JSON object, got number"},
		{"null", `null`, 422, "expected a JSON object, got null"},
		{"true", `true`, 422, "expected a JSON object, got boolean"},
		// Indexes.
		{"index missing", `{"task":"t"}`, 422, "index is required"},
		{"empty object", `{}`, 422, "index is required"},
		{"index only inside the payload", `{"task":"t","payload":{"index":0}}`, 422, "index is required"},
		{"index negative", `{"index":-1,"task":"t"}`, 422, "index must be a non-negative integer, got -1"},
		{"index float", `{"index":1.5,"task":"t"}`, 422, "index must be a non-negative integer, got 1.5"},
		{"index string", `{"index":"3","task":"t"}`, 422, `index must be a non-negative integer, got "3"`},
		{"index 1e30", `{"index":1e30,"task":"t"}`, 422, "index must be a non-negative integer, got 1e30"},
		{"index 2^31", `{"index":2147483648,"task":"t"}`, 422, "index must be a non-negative integer, got 2147483648"},
		{"index 2^31-1 (out of range)", `{"index":2147483647,"task":"t"}`, 422, "out of range"},
		{"index with 30 digits", `{"index":123456789012345678901234567890,"task":"t"}`, 422, "index must be a non-negative integer"},
		{"index null", `{"index":null,"task":"t"}`, 422, "index must be a non-negative integer, got null"},
		{"index true", `{"index":true,"task":"t"}`, 422, "index must be a non-negative integer, got true"},
		{"index object", `{"index":{"n":0},"task":"t"}`, 422, "index must be a non-negative integer"},
		{"index = runCount", `{"index":3,"task":"t"}`, 422, "index is out of range, the batch has runCount 3"},
		{"duplicate key, the last is bad", `{"index":0,"task":"t","index":"x"}`, 422, `got "x"`},
		// Tasks.
		{"task missing", `{"index":0}`, 422, "task is required"},
		{"task empty", `{"index":0,"task":""}`, 422, "task must be a non-empty string"},
		{"task of 300 bytes", `{"index":0,"task":"` + strings.Repeat("t", 300) + `"}`, 422, "task is longer than 256 bytes"},
		{"task of 300 escaped bytes", `{"index":0,"task":"` + strings.Repeat(`\u0074`, 300) + `"}`, 422, "task is longer than 256 bytes"},
		{"task with U+0001", `{"index":0,"task":"a\u0001b"}`, 422, "task must not contain control characters"},
		{"task with U+0000", `{"index":0,"task":"a\u0000b"}`, 422, "task must not contain control characters"},
		{"task with a newline escape", `{"index":0,"task":"a\nb"}`, 422, "task must not contain control characters"},
		{"task with U+009B (C1 control)", `{"index":0,"task":"a\u009bb"}`, 422, "task must not contain control characters"},
		{"task number", `{"index":0,"task":5}`, 422, "task must be a non-empty string, got number"},
		{"task null", `{"index":0,"task":null}`, 422, "task must be a non-empty string, got null"},
		{"task array", `{"index":0,"task":["t"]}`, 422, "task must be a non-empty string, got array"},
		// Options.
		{"options.maxAttempts string", `{"index":0,"task":"t","options":{"maxAttempts":"x"}}`, 422, "options.maxAttempts must be a non-negative integer"},
		{"options.maxAttempts negative", `{"index":0,"task":"t","options":{"maxAttempts":-1}}`, 422, "options.maxAttempts must be a non-negative integer"},
		{"options.tags number", `{"index":0,"task":"t","options":{"tags":5}}`, 422, "options.tags must be a string or an array of strings, got number"},
		{"options.tags with a number", `{"index":0,"task":"t","options":{"tags":["a",5]}}`, 422, "options.tags[1] must be a string"},
		{"options.tags 11 tags", `{"index":0,"task":"t","options":{"tags":["a","b","c","d","e","f","g","h","i","j","k"]}}`, 422, "options.tags must have at most 10 tags"},
		{"options.queue string", `{"index":0,"task":"t","options":{"queue":"q"}}`, 422, "options.queue must be an object, got string"},
		{"options.queue without name", `{"index":0,"task":"t","options":{"queue":{}}}`, 422, "options.queue.name is required"},
		{"options.machine huge", `{"index":0,"task":"t","options":{"machine":"huge"}}`, 422, `options.machine must be one of micro, small-1x`},
		{"options.idempotencyKeyOptions key number", `{"index":0,"task":"t","options":{"idempotencyKeyOptions":{"key":1}}}`, 422, "options.idempotencyKeyOptions.key must be a string, got number"},
		{"options.payloadType empty", `{"index":0,"task":"t","options":{"payloadType":""}}`, 422, "options.payloadType must be a non-empty string"},
		{"options.ttl boolean", `{"index":0,"task":"t","options":{"ttl":true}}`, 422, "options.ttl must be a string or a non-negative integer"},
		{"options.priority 1e999", `{"index":0,"task":"t","options":{"priority":1e999}}`, 422, "options.priority must be a finite number"},
		{"options array", `{"index":0,"task":"t","options":[]}`, 422, "options must be an object"},
		{"options string", `{"index":0,"task":"t","options":"x"}`, 422, "options must be an object"},
		{"options number", `{"index":0,"task":"t","options":5}`, 422, "options must be an object"},
		{"options.metadata with \\u0000", `{"index":0,"task":"t","options":{"metadata":{"k":"a\u0000b"}}}`, 422, `options contain the escape \u0000`},
		// Payloads.
		{"payload with U+0000", `{"index":0,"task":"t","payload":"a\u0000b"}`, 422, "payload contains the character U+0000"},
		{"application/store with ../", `{"index":0,"task":"t","payload":"../other/x.json","options":{"payloadType":"application/store"}}`, 422, "payload is not a valid application/store path"},
		{"application/store inner ..", `{"index":0,"task":"t","payload":"a/../../b","options":{"payloadType":"application/store"}}`, 422, "payload is not a valid application/store path"},
		{"application/store absolute", `{"index":0,"task":"t","payload":"/packets/x","options":{"payloadType":"application/store"}}`, 422, "payload is not a valid application/store path"},
		{"application/store backslash", `{"index":0,"task":"t","payload":"..\\x","options":{"payloadType":"application/store"}}`, 422, "payload is not a valid application/store path"},
		{"application/store empty", `{"index":0,"task":"t","payload":"","options":{"payloadType":"application/store"}}`, 422, "payload is not a valid application/store path"},
		{"application/store 2 KB", `{"index":0,"task":"t","payload":"` + strings.Repeat("a", 2048) + `","options":{"payloadType":"application/store"}}`, 422, "payload is not a valid application/store path"},
		{"application/store with a newline", `{"index":0,"task":"t","payload":"a\nb","options":{"payloadType":"application/store"}}`, 422, "payload is not a valid application/store path"},
		{"application/store number", `{"index":0,"task":"t","payload":5,"options":{"payloadType":"application/store"}}`, 422, "application/store payload must be a string path"},
		{"application/store without payload", `{"index":0,"task":"t","options":{"payloadType":"application/store"}}`, 422, "application/store payload must be a string path"},
		{"bad line after blank ones names its line", "\n\n" + `{"index":2,"task":""}`, 422, "Invalid item at index 2 (line 3): task must be a non-empty string"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.hxStream(t, key, id, []byte(tc.body))
			hxWantError(t, tc.name, r, tc.status, tc.want)
		})
	}
	s.hxAssertNothingStray(t, env, key, id, runCount)
}

// A line longer than STREAMING_BATCH_ITEM_MAXIMUM_SIZE (3 MiB) is not an
// error: it becomes a FAILED run with PAYLOAD_TOO_LARGE at its index (read
// from its first 512 bytes, else its position), also as the last line
// without a newline. Out of range, it is refused like any index.
func TestHostileOversizedLine(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	big := strings.Repeat("x", s.cfg.ItemMaxBytes+100<<10)
	id := s.mustCreate(t, key, 4)
	body := `{"index":0,"task":"small","payload":"p0"}` + "\n" +
		// The index comes after the payload, beyond the 512-byte head: the
		// line's position (1) is its index.
		`{"task":"late-index","payload":"` + big + `","index":3}` + "\n" +
		`{"index":2,"task":"small","payload":"p2"}` + "\n" +
		// The last line, without a newline, over the limit.
		`{"index":3,"task":"huge","payload":"` + big + `"}`
	r := s.hxStream(t, key, id, []byte(body))
	var res streamResp
	if r.StatusCode != 200 || json.Unmarshal(r.Body, &res) != nil || !res.Sealed || res.ItemsAccepted != 4 || res.ItemsDeduplicated != 0 {
		t.Fatalf("oversized lines: %s", r)
	}
	runs := s.runs(t, key, id)
	want := []struct {
		task, status string
		tooLarge     bool
	}{{"small", "QUEUED", false}, {"late-index", "FAILED", true}, {"small", "QUEUED", false}, {"huge", "FAILED", true}}
	if len(runs) != 4 {
		t.Fatalf("%d runs, want 4: %+v", len(runs), runs)
	}
	for k, w := range want {
		r := runs[k]
		if r.Task != w.task || r.Status != w.status || (w.tooLarge != (r.Error != nil && r.Error.Code == batch.ErrorPayloadTooLarge)) {
			t.Errorf("run %d: %+v (error %+v), want task %s %s", k, r, r.Error, w.task, w.status)
		}
		if w.tooLarge && (r.Payload != nil || !strings.Contains(r.Error.Message, "too large")) {
			t.Errorf("run %d: payload kept or unhelpful message: %+v", k, r.Error)
		}
	}
	if keys := s.hxPackets(t, env); len(keys) != 0 {
		t.Errorf("an oversized line left objects: %v", keys)
	}

	// An oversized line whose index is out of range is refused (422), and
	// nothing of the stream stays.
	id2 := s.mustCreate(t, key, 2)
	r = s.hxStream(t, key, id2, []byte(`{"index":7,"task":"huge","payload":"`+big+`"}`))
	hxWantError(t, "oversized, index out of range", r, 422, "the line is too large")
	s.hxAssertNothingStray(t, env, key, id2, 2)
}

// Duplicate indexes in one stream with different payloads: the FIRST
// occurrence wins, the later ones count as itemsDeduplicated; a re-send
// after the seal changes nothing.
func TestHostileDuplicateIndexes(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	_, key := s.newKey(t)
	id := s.mustCreate(t, key, 2)
	body := `{"index":0,"task":"first","payload":"FIRST"}` + "\n" +
		`{"index":0,"task":"second","payload":"SECOND"}` + "\n" +
		`{"index":1,"task":"t","payload":"one"}` + "\n" +
		`{"index":0,"task":"third","payload":"THIRD"}` + "\n"
	r := s.hxStream(t, key, id, []byte(body))
	var res streamResp
	if r.StatusCode != 200 || json.Unmarshal(r.Body, &res) != nil || !res.Sealed || res.ItemsAccepted != 2 || res.ItemsDeduplicated != 2 {
		t.Fatalf("duplicates: %s", r)
	}
	r = s.hxStream(t, key, id, []byte(`{"index":0,"task":"late","payload":"LATE"}`+"\n"))
	if r.StatusCode != 200 || !strings.Contains(string(r.Body), `"sealed":true`) {
		t.Fatalf("re-send after the seal: %s", r)
	}
	runs := s.runs(t, key, id)
	if len(runs) != 2 || runs[0].Task != "first" || runs[0].Payload == nil || *runs[0].Payload != "FIRST" {
		t.Fatalf("the first occurrence must win: %+v", runs)
	}

	// Validation comes before deduplication: an invalid line fails the
	// stream even when its index is a duplicate.
	id2 := s.mustCreate(t, key, 2)
	r = s.hxStream(t, key, id2, []byte(`{"index":0,"task":"t"}`+"\n"+`{"index":0,"task":"t","options":{"maxAttempts":"x"}}`+"\n"))
	hxWantError(t, "invalid duplicate", r, 422, "options.maxAttempts")
}

// README: "Items before a rejected line stay accepted (as with
// trigger.dev); a corrected re-send skips them." Good lines, then a bad
// one: whatever the server keeps must be consistent (accepted ⇔ run), and
// the corrected re-send completes the batch with exactly one run per index.
func TestHostileGoodLinesBeforeABadOne(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	id := s.mustCreate(t, key, 3)
	r := s.hxStream(t, key, id, []byte(`{"index":0,"task":"t","payload":"a"}`+"\n"+`{"index":1,"task":"t","payload":"b"}`+"\n"+`{"index":2,"task":""}`+"\n"))
	hxWantError(t, "good, good, bad", r, 422, "Invalid item at index 2 (line 3)")
	kept := s.hxAccepted(t, key, id)
	t.Logf("after the refused stream the workflow holds %d of the 2 good items (README: they stay accepted)", kept)
	if kept != 0 && kept != 2 {
		t.Errorf("half of the good items kept: %d", kept)
	}
	if keys := s.hxPackets(t, env); len(keys) != 0 {
		t.Errorf("objects: %v", keys)
	}
	r = s.hxStream(t, key, id, ndjson(simpleItems(3)))
	var res streamResp
	if r.StatusCode != 200 || json.Unmarshal(r.Body, &res) != nil || !res.Sealed || res.ItemsAccepted+res.ItemsDeduplicated != 3 || res.ItemsDeduplicated != kept {
		t.Fatalf("corrected re-send: %s", r)
	}
	if runs := s.runs(t, key, id); len(runs) != 3 {
		t.Fatalf("%d runs", len(runs))
	}
}

// A large payload that the stream already started to upload, followed by
// a refused line: the stream fails, its unsignalled chunk is dropped, and
// the upload must not stay behind as an orphan object.
func TestHostileRefusedStreamLeavesNoUpload(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	id := s.mustCreate(t, key, 2)
	large := randomText(3, s.cfg.OffloadThreshold+10<<10)
	body := `{"index":0,"task":"t","payload":"` + large + `"}` + "\n" + `{"index":1,"task":"t","options":5}` + "\n"
	r := s.hxStream(t, key, id, []byte(body))
	hxWantError(t, "large payload then a bad line", r, 422, "options must be an object")
	// The line before the bad one is kept, so its upload has its run.
	s.hxAssertOnlyEarlierLines(t, env, key, id, 2, map[int]bool{0: true})
	runs := s.runs(t, key, id)
	if len(runs) == 0 || runs[0].Payload == nil {
		t.Fatalf("runs %+v", runs)
	}
	obj, err := s.app.Blob.Get(t.Context(), *runs[0].Payload, 1<<20)
	if err != nil || string(obj) != large {
		t.Fatalf("the kept item's payload: %v", err)
	}
}

// Items the workflow accepts must be storable: an item PostgreSQL cannot
// hold must be refused at the door (422), not accepted and then retried
// forever by the worker, which would also block every other item of its
// chunk and the seal. All cases stream at once, then wait up to 12 s
// together for the worker.
func TestHostileUnstorableItems(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	cfg := s.cfg
	cfg.SealWait = 500 * time.Millisecond
	cfg.ItemMaxBytes = 4 << 10 // oversized lines are cheap to make
	short := s.withConfig(t, cfg)
	over := strings.Repeat("x", 5<<10)
	cases := []struct{ name, line string }{
		{"lone high surrogate in options.metadata", `{"index":1,"task":"t","options":{"metadata":{"k":"\ud800"}}}`},
		{"lone low surrogate in options.tags", `{"index":1,"task":"t","options":{"tags":["\udc00"]}}`},
		{"lone surrogate in options.idempotencyKeyOptions.key", `{"index":1,"task":"t","options":{"idempotencyKeyOptions":{"key":"\ud83d","scope":"run"}}}`},
		{"U+0000 in the task of an oversized line", `{"index":1,"task":"a\u0000b","payload":"` + over + `"}`},
	}
	type accepted struct {
		name, key, id string
		answer        reply
	}
	var pending []accepted
	for _, tc := range cases {
		_, key := s.newKey(t)
		id := short.mustCreate(t, key, 2)
		body := `{"index":0,"task":"t","payload":"fine"}` + "\n" + tc.line + "\n"
		r := short.hxStream(t, key, id, []byte(body))
		switch {
		case r.StatusCode == 422:
			t.Logf("%s: refused at the door: %s", tc.name, r) // right
		case r.StatusCode >= 500:
			t.Errorf("%s: SERVER ERROR %s", tc.name, r)
		default:
			pending = append(pending, accepted{tc.name, key, id, r})
		}
	}
	// Accepted: then both runs of each batch must appear and the batch seal.
	deadline := time.Now().Add(12 * time.Second)
	for len(pending) > 0 {
		var still []accepted
		for _, p := range pending {
			if b := s.batchStatus(t, p.key, p.id); !(b.Sealed && b.EnqueuedCount == 2) {
				still = append(still, p)
			}
		}
		pending = still
		if len(pending) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	for _, p := range pending {
		b := s.batchStatus(t, p.key, p.id)
		failure := ""
		if d, err := s.app.Temporal.DescribeWorkflowExecution(context.Background(), p.id, ""); err == nil {
			for _, pa := range d.PendingActivities {
				failure += fmt.Sprintf(" [%s attempt %d: %s]", pa.ActivityId, pa.Attempt, pa.LastFailure.GetMessage())
			}
		}
		t.Errorf("POISON %s: the stream was answered %s, yet after 12 s the batch has %d of 2 runs and is %s; pending activities:%s",
			p.name, p.answer, b.EnqueuedCount, b.Status, failure)
		// Stop the retries: abort the batch.
		ab := send(t, boundedClient, http.MethodPost, short.URL+"/api/v3/batches/"+p.id+"/abort", nil, withKey(p.key, ""))
		t.Logf("abort of the poisoned batch %s: %d", p.id, ab.StatusCode)
	}
}
