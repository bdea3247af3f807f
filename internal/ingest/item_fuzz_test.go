package ingest

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/streambatch/streambatch/batch"
)

func FuzzDecodeItem(f *testing.F) {
	for _, seed := range []string{
		`{"index":0,"task":"my-task","payload":"{\"json\":{\"a\":1}}","options":{"queue":{"name":"q"},"tags":["a","b"],"idempotencyKey":"k","idempotencyKeyOptions":{"key":"k","scope":"run"},"payloadType":"application/super+json","payloadSize":17}}`,
		`{"index":999,"task":"t","payload":{"a":[1,2,{"b":"}"}]},"options":{"concurrencyKey":12,"maxAttempts":3.0,"ttl":60,"metadata":{"x":null}}}`,
		`{"index":1,"task":"t","payload":"a/b.json","options":{"payloadType":"application/store"}}`,
		`{"index":2,"task":"t\u00e9","payload":"x\ud800\"\\","options":{"__error":"x","debounce":{"key":"k","delay":"1s","mode":"leading"}}}`,
		`{"index":3e0,"task":"t","options":{"externalDeploymentId":" d ","machine":"micro","test":true,"priority":-1.5}}`,
		`{"index":-1,"task":"t"}`,
		`{"index":1000,"task":"t"}`,
		`[1,2]`,
		`{"index":0,`,
		`{"index":0,"task":"t"} x`,
	} {
		f.Add([]byte(seed))
	}
	rules := itemRules{runCount: 1000, env: "dev"}
	f.Fuzz(func(t *testing.T, data []byte) {
		item, err := decodeItem(3, data, rules)
		var se *SyntaxError
		var ve *ValidationError
		switch {
		case err == nil:
		case errors.As(err, &se):
			if se.Line != 3 {
				t.Fatalf("SyntaxError.Line = %d", se.Line)
			}
		case errors.As(err, &ve):
		default:
			t.Fatalf("error of type %T: %v", err, err)
		}
		if err == nil {
			if item.Index < 0 || item.Index >= rules.runCount {
				t.Fatalf("index %d out of range", item.Index)
			}
			if item.Task == "" {
				t.Fatal("empty task")
			}
			if item.PayloadType == "" {
				t.Fatal("empty payload type")
			}
			if item.Options != nil {
				var m map[string]json.RawMessage
				if err := json.Unmarshal(item.Options, &m); err != nil {
					t.Fatalf("options %q are not a JSON object: %v", item.Options, err)
				}
				if len(m) == 0 {
					t.Fatalf("empty options object %q, want nil", item.Options)
				}
				if _, ok := m["__error"]; ok {
					t.Fatalf("options %q kept __error", item.Options)
				}
			}
			checkItemAgainstEncodingJSON(t, data, item)
		}
		// Deterministic, and independent of the input buffer.
		buf := append([]byte(nil), data...)
		item2, err2 := decodeItem(3, buf, rules)
		for k := range buf {
			buf[k] = 0
		}
		if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("errors differ: %v / %v", err, err2)
		}
		if !reflect.DeepEqual(item, item2) {
			t.Fatalf("items differ:\n%s\n%s", dumpItem(item), dumpItem(item2))
		}
	})
}

// checkItemAgainstEncodingJSON compares an accepted item with what
// encoding/json reads from the same line (map keys are case-sensitive and the
// last duplicate wins, as in decodeItem). encoding/json turns invalid UTF-8
// into U+FFFD, which decodeItem's fast path does not, so only valid UTF-8
// lines (decodeItem's precondition) are compared.
func checkItemAgainstEncodingJSON(t *testing.T, data []byte, item batch.Item) {
	t.Helper()
	if !utf8.Valid(data) {
		return
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("decodeItem accepted what encoding/json refuses: %v", err)
	}
	var index float64
	if err := json.Unmarshal(m["index"], &index); err != nil || float64(item.Index) != index {
		t.Fatalf("index %d, encoding/json reads %s (%v)", item.Index, m["index"], err)
	}
	var task string
	if err := json.Unmarshal(m["task"], &task); err != nil || task != item.Task {
		t.Fatalf("task %q, encoding/json reads %q (%v)", item.Task, task, err)
	}
	raw, ok := m["payload"]
	if item.PayloadType == batch.PayloadTypeStore || !ok || string(raw) == "null" {
		return
	}
	want := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
	}
	if item.Payload == nil || *item.Payload != want {
		t.Fatalf("payload %v, encoding/json reads %q", item.Payload, want)
	}
}
