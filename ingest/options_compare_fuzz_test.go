package ingest

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/jsonscan"
)

// FuzzItemOptionsMatchOldParsers checks batch.ParseItemOptions against
// decodeItemOptions followed by batch.ParseRunOptions, and
// batch.StoredItemOptions of the stored object (re-spaced, as PostgreSQL
// renders jsonb) against the options read at ingest.
func FuzzItemOptionsMatchOldParsers(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"foo":1,"__error":"boom"}`, `{"queue":{"name":"q","concurrencyLimit":5},"tags":["a","b"],"idempotencyKey":"k"}`,
		`{"delay":"1h30m","ttl":60,"maxAttempts":3.0,"maxDuration":1.5,"priority":2,"metadata":{"a":[1, 2]}}`,
		`{"delay":"2024-05-01T00:00:00Z","ttl":"10m","tags":"one","metadata":null}`,
		`{"maxAttempts":500,"maxDuration":1e9}`, `{"maxDuration":-1}`, `{"ttl":9007199254740991}`,
		`{"concurrencyKey":1e21,"externalDeploymentId":" d ","machine":"micro","test":true}`,
		`{"idempotencyKeyOptions":{"key":"k","scope":"run"},"debounce":{"key":"k","delay":"1s","mode":"leading"}}`,
		`{"gates":[{"queue":"q1","concurrencyKey":"k"}],"concurrency":["a_b"],"payloadType":"application/json","payloadSize":3}`,
		`{"tags":[]}`, `{"tags":["\u00e9\ud83d\ude00"]}`, `{"idempotencyKey":"a\"b\ud800"}`, `[1]`, `"x"`, `{"queue":{"name":"bad name"}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		raw = bytes.TrimSpace(raw)
		if !jsonscan.Valid(raw) || jsonscan.Kind(raw) == "null" {
			return
		}
		got, problem := batch.ParseItemOptions(raw)
		oldJSON, oldType, oldProblem := decodeItemOptions(raw)
		if problem != oldProblem {
			t.Fatalf("%s: problem %q, old %q", raw, problem, oldProblem)
		}
		if problem != "" {
			if !reflect.DeepEqual(got, batch.ItemOptions{}) {
				t.Fatalf("%s: refused with options %+v", raw, got)
			}
			return
		}
		if !bytes.Equal(got.JSON, oldJSON) || (got.JSON == nil) != (oldJSON == nil) || got.PayloadType != oldType {
			t.Fatalf("%s: JSON %s %q, old %s %q", raw, got.JSON, got.PayloadType, oldJSON, oldType)
		}
		old, err := batch.ParseRunOptions(oldJSON)
		if err != nil {
			if got.Refused != err.Error() {
				t.Fatalf("%s: refused %q, old %q", raw, got.Refused, err)
			}
		} else {
			if got.Refused != "" {
				t.Fatalf("%s: refused %q, old accepted", raw, got.Refused)
			}
			typed := batch.RunOptions{Delay: got.Delay, DelayUntil: got.DelayUntil, TTL: got.TTL, MaxAttempts: got.MaxAttempts,
				MaxDuration: got.MaxDuration, Priority: got.Priority, Queue: got.Queue, Metadata: got.Metadata, Tags: got.Tags,
				IdempotencyKey: got.IdempotencyKey}
			if !reflect.DeepEqual(typed, old) {
				t.Fatalf("%s:\n got %#v\n old %#v", raw, typed, old)
			}
		}
		if got.JSON == nil {
			if s := batch.StoredItemOptions(nil); !reflect.DeepEqual(s, batch.ItemOptions{}) {
				t.Fatalf("stored nil: %+v", s)
			}
			return
		}
		var spaced bytes.Buffer
		if err := json.Indent(&spaced, got.JSON, "", " "); err != nil {
			t.Fatalf("%s: stored options %s: %v", raw, got.JSON, err)
		}
		if stored := batch.StoredItemOptions(spaced.Bytes()); !reflect.DeepEqual(stored, got) {
			t.Fatalf("%s: stored\n got %#v\nwant %#v", raw, stored, got)
		}
	})
}
