package batch

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/streambatch/streambatch/jsonscan"
)

// The values streambatch acts on are read, typed, in the scan that checks
// the options; what the dispatcher cannot honour is accepted and Refused.
func TestItemOptionsTyped(t *testing.T) {
	t.Parallel()
	date := time.Date(2030, 5, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, options string
		want          ItemOptions // JSON is not compared
	}{
		{"none known", `{"foo":1}`, ItemOptions{}},
		{"delay duration", `{"delay":"1h30m"}`, ItemOptions{Delay: 90 * time.Minute}},
		{"delay date", `{"delay":"2030-05-01T00:00:00Z"}`, ItemOptions{DelayUntil: date}},
		{"ttl seconds", `{"ttl":60}`, ItemOptions{TTL: time.Minute}},
		{"ttl string", `{"ttl":"10m"}`, ItemOptions{TTL: 10 * time.Minute}},
		{"attempts and duration", `{"maxAttempts":3.0,"maxDuration":1.5}`, ItemOptions{MaxAttempts: 3, MaxDuration: 1500 * time.Millisecond}},
		{"priority", `{"priority":-2.5}`, ItemOptions{Priority: -2.5}},
		{"queue", `{"queue":{"concurrencyLimit":1,"name":"gpu"}}`, ItemOptions{Queue: "gpu"}},
		{"strings unescaped", `{"idempotencyKey":"k\u00e9","payloadType":"text\/plain","tags":["a","\u0062"]}`,
			ItemOptions{IdempotencyKey: "ké", IdempotencyKeyTTL: DefaultIdempotencyKeyTTL, PayloadType: "text/plain", Tags: []string{"a", "b"}}},
		{"idempotency key ttl", `{"idempotencyKey":"k","idempotencyKeyTTL":"1h30m"}`,
			ItemOptions{IdempotencyKey: "k", IdempotencyKeyTTL: 90 * time.Minute}},
		{"idempotency key ttl zero", `{"idempotencyKey":"k","idempotencyKeyTTL":"0s"}`, ItemOptions{IdempotencyKey: "k"}},
		{"idempotency key ttl without key", `{"idempotencyKeyTTL":"1h"}`, ItemOptions{}},
		{"one tag", `{"tags":"x"}`, ItemOptions{Tags: []string{"x"}}},
		{"no tags", `{"tags":[]}`, ItemOptions{Tags: []string{}}},
		{"metadata compact", `{"metadata":{ "a" : [1, 2] }}`, ItemOptions{Metadata: json.RawMessage(`{"a":[1,2]}`)}},
		{"metadata null", `{"metadata":null}`, ItemOptions{}},
		{"long strings", `{"idempotencyKey":"` + strings.Repeat("k", 300) + `","tags":["` + strings.Repeat("t", 128) + `"]}`,
			ItemOptions{IdempotencyKey: strings.Repeat("k", 300), IdempotencyKeyTTL: DefaultIdempotencyKeyTTL, Tags: []string{strings.Repeat("t", 128)}}},
		{"too many attempts", `{"maxAttempts":500,"maxDuration":1e9}`,
			ItemOptions{MaxAttempts: 500, Refused: "options.maxAttempts must be between 1 and 100, got 500"}},
		{"too long", `{"maxDuration":604801}`, ItemOptions{Refused: "options.maxDuration must be between 1 and 604800 seconds, got 604801"}},
		{"negative duration", `{"maxDuration":-1}`, ItemOptions{Refused: "options.maxDuration must be between 1 and 604800 seconds, got -1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, problem := ParseItemOptions([]byte(tc.options))
			if problem != "" {
				t.Fatal(problem)
			}
			got.JSON = nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("\n got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

// Options as PostgreSQL stores them (jsonb: spaced, keys reordered) read
// back as they were read at ingest; what streambatch did not write comes
// back Refused.
func TestStoredItemOptions(t *testing.T) {
	t.Parallel()
	at, _ := ParseItemOptions([]byte(`{"tags":["a"],"queue":{"name":"q"},"delay":"1h","metadata":{"k":1}}`))
	stored := StoredItemOptions([]byte(`{"tags": ["a"], "delay": "1h", "queue": {"name": "q"}, "metadata": {"k": 1}}`))
	if !reflect.DeepEqual(stored, at) {
		t.Fatalf("\nstored %#v\ningest %#v", stored, at)
	}
	if o := StoredItemOptions(nil); !reflect.DeepEqual(o, ItemOptions{}) {
		t.Fatalf("nil: %#v", o)
	}
	for raw, want := range map[string]string{
		`{"queue":{"name":"bad name"}}`: "options.queue.name must be 1–128 letters",
		`{"tags":`:                      "options are not valid JSON",
		`[1]`:                           "options must be an object",
	} {
		if o := StoredItemOptions([]byte(raw)); !strings.HasPrefix(o.Refused, want) {
			t.Errorf("%s: refused %q, want %q", raw, o.Refused, want)
		}
	}
}

// optionIndex and checkOption number the options as itemOptions lists them.
func TestOptionIndex(t *testing.T) {
	t.Parallel()
	for k, name := range itemOptions {
		if got := optionIndex([]byte(name)); got != k {
			t.Errorf("optionIndex(%q) = %d, want %d", name, got, k)
		}
	}
	if itemOptions[optMetadata] != "metadata" {
		t.Errorf("optMetadata names %q", itemOptions[optMetadata])
	}
	if optionIndex([]byte("__error")) != -1 {
		t.Error("__error is known")
	}
}

func TestStartAfter(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	date := created.Add(time.Hour)
	for _, tc := range []struct {
		o    ItemOptions
		want time.Time
	}{
		{ItemOptions{}, time.Time{}},
		{ItemOptions{Delay: time.Minute}, created.Add(time.Minute)},
		{ItemOptions{DelayUntil: date, Delay: time.Minute}, date},
	} {
		if got := tc.o.StartAfter(created); !got.Equal(tc.want) {
			t.Errorf("%+v: %v, want %v", tc.o, got, tc.want)
		}
	}
}

func TestOptionJSNumberString(t *testing.T) {
	t.Parallel()
	// Expected values are what JavaScript's String(n) gives.
	for _, tc := range []struct {
		f    float64
		want string
	}{
		{0, "0"}, {math.Copysign(0, -1), "0"}, {1, "1"}, {-1, "-1"}, {12, "12"}, {1.5, "1.5"}, {-0.25, "-0.25"},
		{123456789, "123456789"}, {1e20, "100000000000000000000"}, {1e21, "1e+21"}, {1.5e21, "1.5e+21"},
		{0.000001, "0.000001"}, {1e-7, "1e-7"}, {1.25e-7, "1.25e-7"}, {0.1, "0.1"}, {1.0 / 3, "0.3333333333333333"},
		{9007199254740993, "9007199254740992"}, {5e-324, "5e-324"}, {math.MaxFloat64, "1.7976931348623157e+308"},
		{123.456, "123.456"}, {100, "100"},
	} {
		if got := jsNumberString(tc.f); got != tc.want {
			t.Errorf("jsNumberString(%v) = %q, want %q", tc.f, got, tc.want)
		}
	}
}

func TestOptionIsJSSpace(t *testing.T) {
	t.Parallel()
	for _, r := range " \t\n\v\f\r\u00a0\u1680\u2000\u2005\u200a\u2028\u2029\u202f\u205f\u3000\ufeff" {
		if !isJSSpace(r) {
			t.Errorf("isJSSpace(%U) = false", r)
		}
	}
	for _, r := range "a0_\u0085\u200b\u180e" {
		if isJSSpace(r) {
			t.Errorf("isJSSpace(%U) = true", r)
		}
	}
}

// trigger.dev 4.8's gates and concurrency options are kept, checked.
func TestGatesAndConcurrencyKept(t *testing.T) {
	t.Parallel()
	o, problem := ParseItemOptions([]byte(`{"gates":[{"queue":"q1","concurrencyKey":"k","x":1}],"concurrency":["a_b","c-d"],"queue":{"name":"email","concurrencyLimit":5}}`))
	if problem != "" || string(o.JSON) != `{"queue":{"name":"email","concurrencyLimit":5},"gates":[{"queue":"q1","concurrencyKey":"k"}],"concurrency":["a_b","c-d"]}` {
		t.Fatalf("kept %s (%s)", o.JSON, problem)
	}
	for raw, want := range map[string]string{
		`{"gates":[{"queue":"a"},{"queue":"b"},{"queue":"c"},{"queue":"d"}]}`: "at most 3",
		`{"gates":[{"concurrencyKey":"k"}]}`:                                  "queue is required",
		`{"gates":[{"queue":""}]}`:                                            "1 to 128 characters",
		`{"concurrency":["a","b","c"]}`:                                       "at most 2",
		`{"concurrency":["no spaces"]}`:                                       "letters, digits",
		`{"queue":{"name":"bad name"}}`:                                       "letters, digits",
		`{"delay":"soon"}`:                                                    "duration",
		`{"ttl":"forever"}`:                                                   "duration",
	} {
		if _, problem := ParseItemOptions([]byte(raw)); !strings.Contains(problem, want) {
			t.Errorf("%s: problem %q, want %q", raw, problem, want)
		}
	}
}

// FuzzParseItemOptions: accepted options are a compact JSON object of
// known keys that reads back the same (at ingest again, and as PostgreSQL
// stores it), whose typed values agree with encoding/json's reading of it.
func FuzzParseItemOptions(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"foo":1,"__error":"boom"}`, `{"queue":{"name":"q","concurrencyLimit":5},"tags":["a","b"],"idempotencyKey":"k"}`,
		`{"delay":"1h30m","ttl":60,"maxAttempts":3.0,"maxDuration":1.5,"priority":2,"metadata":{"a":[1, 2]}}`,
		`{"delay":"2024-05-01T00:00:00Z","ttl":"10m","tags":"one","metadata":null}`,
		`{"maxAttempts":500,"maxDuration":1e9}`, `{"ttl":9007199254740991}`,
		`{"concurrencyKey":1e21,"externalDeploymentId":" d ","machine":"micro","test":true}`,
		`{"idempotencyKeyOptions":{"key":"k","scope":"run"},"debounce":{"key":"k","delay":"1s","mode":"leading"}}`,
		`{"gates":[{"queue":"q1","concurrencyKey":"k"}],"concurrency":["a_b"],"payloadType":"application/json","payloadSize":3}`,
		`{"tags":[]}`, `{"tags":["\u00e9\ud83d\ude00"]}`, `{"idempotencyKey":"a\"b\ud800"}`, `[1]`, `"x"`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		raw = bytes.TrimSpace(raw)
		// Items and stored options are valid UTF-8.
		if !utf8.Valid(raw) || !jsonscan.Valid(raw) || jsonscan.Kind(raw) == "null" {
			return
		}
		o, problem := ParseItemOptions(raw)
		if problem != "" {
			if !strings.HasPrefix(problem, "options") || !reflect.DeepEqual(o, ItemOptions{}) {
				t.Fatalf("%s: problem %q with %#v", raw, problem, o)
			}
			return
		}
		if o.JSON == nil {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(o.JSON, &m); err != nil || len(m) == 0 {
			t.Fatalf("%s: options %s are not a non-empty JSON object (%v)", raw, o.JSON, err)
		}
		for k := range m {
			if optionIndex([]byte(k)) < 0 {
				t.Fatalf("%s: unknown key %q kept", raw, k)
			}
		}
		var compact bytes.Buffer
		if json.Compact(&compact, o.JSON) != nil || !bytes.Equal(compact.Bytes(), o.JSON) {
			t.Fatalf("%s: options %s are not compact", raw, o.JSON)
		}
		if again, p := ParseItemOptions(o.JSON); p != "" || !reflect.DeepEqual(again, o) {
			t.Fatalf("%s: read again: %#v (%s)\nwant %#v", raw, again, p, o)
		}
		var spaced bytes.Buffer
		if err := json.Indent(&spaced, o.JSON, "", " "); err != nil {
			t.Fatal(err)
		}
		if stored := StoredItemOptions(spaced.Bytes()); !reflect.DeepEqual(stored, o) {
			t.Fatalf("%s: stored: %#v\nwant %#v", raw, stored, o)
		}
		var std struct {
			Queue          *struct{ Name string } `json:"queue"`
			IdempotencyKey string                 `json:"idempotencyKey"`
			PayloadType    string                 `json:"payloadType"`
			Priority       float64                `json:"priority"`
		}
		if err := json.Unmarshal(o.JSON, &std); err != nil {
			t.Fatalf("%s: %v", o.JSON, err)
		}
		if std.Queue != nil && std.Queue.Name != o.Queue || std.IdempotencyKey != o.IdempotencyKey ||
			std.PayloadType != o.PayloadType || std.Priority != o.Priority {
			t.Fatalf("%s: encoding/json reads %+v, typed %#v", o.JSON, std, o)
		}
	})
}
