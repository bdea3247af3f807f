package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/streambatch/streambatch/batch"
)

func itemStrPtr(s string) *string { return &s }

// itemTestRules are the rules most item tests use.
var itemTestRules = itemRules{runCount: 10, env: "dev"}

const itemTestLine = 7

// itemErrKind names the error type a case expects.
type itemErrKind int

const (
	itemNoErr itemErrKind = iota
	itemSyntaxErr
	itemValidationErr
)

// checkItemErr asserts err has the expected type and mentions every string
// of contains.
func checkItemErr(t *testing.T, err error, kind itemErrKind, contains ...string) {
	t.Helper()
	switch kind {
	case itemNoErr:
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	case itemSyntaxErr:
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Fatalf("error %v (%T), want *SyntaxError", err, err)
		}
		if se.Line != itemTestLine {
			t.Errorf("SyntaxError.Line = %d, want %d", se.Line, itemTestLine)
		}
		if want := fmt.Sprintf("Invalid JSON at line %d", itemTestLine); !strings.HasPrefix(se.Msg, want) {
			t.Errorf("message %q does not start with %q", se.Msg, want)
		}
	case itemValidationErr:
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("error %v (%T), want *ValidationError", err, err)
		}
		if !strings.Contains(ve.Msg, fmt.Sprintf("line %d", itemTestLine)) {
			t.Errorf("message %q does not mention line %d", ve.Msg, itemTestLine)
		}
	}
	for _, c := range contains {
		if !strings.Contains(err.Error(), c) {
			t.Errorf("message %q does not contain %q", err.Error(), c)
		}
	}
}

func TestDecodeItemAccepted(t *testing.T) {
	t.Parallel()
	item := func(index int, task string, payload *string) batch.Item {
		return batch.Item{Index: index, Task: task, Payload: payload, PayloadType: batch.PayloadTypeJSON}
	}
	cases := []struct {
		name string
		line string
		want batch.Item
	}{
		{"minimal", `{"index":0,"task":"my-task"}`, item(0, "my-task", nil)},
		{"last valid index", `{"index":9,"task":"t"}`, item(9, "t", nil)},
		{"index 3.0", `{"index":3.0,"task":"t"}`, item(3, "t", nil)},
		{"index 3e0", `{"index":3e0,"task":"t"}`, item(3, "t", nil)},
		{"index 30e-1", `{"index":30e-1,"task":"t"}`, item(3, "t", nil)},
		{"index 0.3E1", `{"index":0.3E1,"task":"t"}`, item(3, "t", nil)},
		{"index -0", `{"index":-0,"task":"t"}`, item(0, "t", nil)},
		{"spaces", "{ \"index\" :\t4 , \"task\" : \"t\" }", item(4, "t", nil)},
		{"key order", `{"task":"t","payload":1,"index":5}`, item(5, "t", itemStrPtr("1"))},
		{"unknown keys ignored", `{"index":1,"task":"t","context":{"x":[1,{"y":"}"}]},"Index":99,"extra":null}`, item(1, "t", nil)},
		{"duplicate key last wins", `{"index":"x","index":2,"task":1,"task":"t"}`, item(2, "t", nil)},
		{"escaped key", `{"\u0069ndex":2,"t\u0061sk":"t"}`, item(2, "t", nil)},
		{"task with escapes", `{"index":0,"task":"my\/task-\u00e9"}`, item(0, "my/task-é", nil)},
		{"task unicode", `{"index":0,"task":"tâche-😀"}`, item(0, "tâche-😀", nil)},
		{"task 256 bytes", `{"index":0,"task":"` + strings.Repeat("a", 256) + `"}`, item(0, strings.Repeat("a", 256), nil)},
		{"payload absent", `{"index":0,"task":"t"}`, item(0, "t", nil)},
		{"payload null", `{"index":0,"task":"t","payload":null}`, item(0, "t", nil)},
		{"payload string", `{"index":0,"task":"t","payload":"hello world"}`, item(0, "t", itemStrPtr("hello world"))},
		{"payload empty string", `{"index":0,"task":"t","payload":""}`, item(0, "t", itemStrPtr(""))},
		{"payload string escapes", `{"index":0,"task":"t","payload":"a\"b\\c\/d\n\t\r\b\f\u00e9\ud83d\ude00"}`,
			item(0, "t", itemStrPtr("a\"b\\c/d\n\t\r\b\fé😀"))},
		{"payload lone surrogate", `{"index":0,"task":"t","payload":"x\ud800y"}`, item(0, "t", itemStrPtr("x\uFFFDy"))},
		{"payload escaped quote at end", `{"index":0,"task":"t","payload":"\\"}`, item(0, "t", itemStrPtr(`\`))},
		{"payload superjson", `{"index":0,"task":"t","payload":"{\"json\":{\"a\":1}}"}`, item(0, "t", itemStrPtr(`{"json":{"a":1}}`))},
		{"payload object raw", `{"index":0,"task":"t","payload":{"a": [1, 2.50], "b" : {"c":"\u00e9"}}}`,
			item(0, "t", itemStrPtr(`{"a": [1, 2.50], "b" : {"c":"\u00e9"}}`))},
		{"payload array raw", `{"index":0,"task":"t","payload":[ ]}`, item(0, "t", itemStrPtr(`[ ]`))},
		{"payload number raw", `{"index":0,"task":"t","payload":12.50e0}`, item(0, "t", itemStrPtr(`12.50e0`))},
		{"payload boolean raw", `{"index":0,"task":"t","payload":false}`, item(0, "t", itemStrPtr(`false`))},
		{"options null", `{"index":0,"task":"t","options":null}`, item(0, "t", nil)},
		{"options empty", `{"index":0,"task":"t","options":{}}`, item(0, "t", nil)},
		{"options unknown only", `{"index":0,"task":"t","options":{"__error":"x","__errorCode":"E","nope":1}}`, item(0, "t", nil)},
		{"store payload", `{"index":0,"task":"t","payload":"trigger/packet_x/payload.json","options":{"payloadType":"application/store"}}`,
			batch.Item{Index: 0, Task: "t", Payload: itemStrPtr("packets/dev/trigger/packet_x/payload.json"),
				PayloadType: batch.PayloadTypeStore, Options: json.RawMessage(`{"payloadType":"application/store"}`)}},
		{"custom payload type", `{"index":1,"task":"t","payload":"x","options":{"payloadType":"text/plain"}}`,
			batch.Item{Index: 1, Task: "t", Payload: itemStrPtr("x"), PayloadType: "text/plain",
				Options: json.RawMessage(`{"payloadType":"text/plain"}`)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := decodeItem(itemTestLine, []byte(tc.line), itemTestRules)
			checkItemErr(t, err, itemNoErr)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("decodeItem(%s)\n got %s\nwant %s", tc.line, dumpItem(got), dumpItem(tc.want))
			}
		})
	}
}

func TestDecodeItemRefused(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		line     string
		kind     itemErrKind
		contains []string
	}{
		// Syntax.
		{"truncated", `{"index":0,`, itemSyntaxErr, []string{"unexpected end of JSON input"}},
		{"trailing garbage", `{"index":0,"task":"t"} x`, itemSyntaxErr, []string{"after top-level value"}},
		{"two values", `{"index":0,"task":"t"}{}`, itemSyntaxErr, nil},
		{"single quotes", `{'index':0}`, itemSyntaxErr, nil},
		{"bare word", `nul`, itemSyntaxErr, nil},
		{"trailing comma", `{"index":0,"task":"t",}`, itemSyntaxErr, nil},
		{"control char in string", "{\"index\":0,\"task\":\"a\x01\"}", itemSyntaxErr, nil},
		{"leading zero", `{"index":01,"task":"t"}`, itemSyntaxErr, nil},
		// Not an object.
		{"array", `[{"index":0}]`, itemValidationErr, []string{"Invalid item at line 7: expected a JSON object, got array"}},
		{"string", `"x"`, itemValidationErr, []string{"expected a JSON object, got string"}},
		{"number", `12`, itemValidationErr, []string{"expected a JSON object, got number"}},
		{"boolean", `true`, itemValidationErr, []string{"expected a JSON object, got boolean"}},
		{"null", `null`, itemValidationErr, []string{"expected a JSON object, got null"}},
		// Index.
		{"index missing", `{"task":"t"}`, itemValidationErr, []string{"Invalid item at line 7: index is required"}},
		{"index case matters", `{"Index":0,"task":"t"}`, itemValidationErr, []string{"index is required"}},
		{"index negative", `{"index":-1,"task":"t"}`, itemValidationErr, []string{"Invalid item at line 7: index must be a non-negative integer, got -1"}},
		{"index fraction", `{"index":1.5,"task":"t"}`, itemValidationErr, []string{"non-negative integer, got 1.5"}},
		{"index string", `{"index":"3","task":"t"}`, itemValidationErr, []string{`non-negative integer, got "3"`}},
		{"index true", `{"index":true,"task":"t"}`, itemValidationErr, []string{"non-negative integer, got true"}},
		{"index null", `{"index":null,"task":"t"}`, itemValidationErr, []string{"non-negative integer, got null"}},
		{"index 2^31", `{"index":2147483648,"task":"t"}`, itemValidationErr, []string{"non-negative integer, got 2147483648"}},
		{"index huge", `{"index":1e400,"task":"t"}`, itemValidationErr, []string{"non-negative integer, got 1e400"}},
		{"index long raw truncated", `{"index":[` + strings.Repeat(`"abcdefgh",`, 10) + `0],"task":"t"}`, itemValidationErr,
			[]string{`got ["abcdefgh","abcdefgh","abcdefgh","abcde...`}},
		{"index out of range", `{"index":10,"task":"t"}`, itemValidationErr,
			[]string{"Invalid item at index 10 (line 7): index is out of range, the batch has runCount 10"}},
		{"index out of range 2^31-1", `{"index":2147483647,"task":"t"}`, itemValidationErr, []string{"index 2147483647 (line 7): index is out of range"}},
		// Task.
		{"task missing", `{"index":3}`, itemValidationErr, []string{"Invalid item at index 3 (line 7): task is required"}},
		{"task null", `{"index":3,"task":null}`, itemValidationErr, []string{"index 3 (line 7): task must be a non-empty string, got null"}},
		{"task number", `{"index":3,"task":5}`, itemValidationErr, []string{"task must be a non-empty string, got number"}},
		{"task object", `{"index":3,"task":{"id":"t"}}`, itemValidationErr, []string{"task must be a non-empty string, got object"}},
		{"task empty", `{"index":3,"task":""}`, itemValidationErr, []string{"index 3 (line 7): task must be a non-empty string"}},
		{"task too long", `{"index":3,"task":"` + strings.Repeat("a", 257) + `"}`, itemValidationErr, []string{"index 3 (line 7): task is longer than 256 bytes"}},
		{"task too long multibyte", `{"index":3,"task":"` + strings.Repeat("é", 129) + `"}`, itemValidationErr, []string{"task is longer than 256 bytes"}},
		{"task control escaped", `{"index":3,"task":"a\u0001b"}`, itemValidationErr, []string{"index 3 (line 7): task must not contain control characters"}},
		{"task newline", `{"index":3,"task":"a\nb"}`, itemValidationErr, []string{"task must not contain control characters"}},
		{"task DEL", "{\"index\":3,\"task\":\"a\x7fb\"}", itemValidationErr, []string{"task must not contain control characters"}},
		{"task C1", `{"index":3,"task":"a\u0085b"}`, itemValidationErr, []string{"task must not contain control characters"}},
		// Options shape (details in options_test.go).
		{"options array", `{"index":4,"task":"t","options":[]}`, itemValidationErr, []string{"Invalid item at index 4 (line 7): options must be an object"}},
		{"options string", `{"index":4,"task":"t","options":"{}"}`, itemValidationErr, []string{"index 4 (line 7): options must be an object"}},
		{"options number", `{"index":4,"task":"t","options":1}`, itemValidationErr, []string{"options must be an object"}},
		// application/store.
		{"store payload missing", `{"index":5,"task":"t","options":{"payloadType":"application/store"}}`, itemValidationErr,
			[]string{"Invalid item at index 5 (line 7): application/store payload must be a string path"}},
		{"store payload null", `{"index":5,"task":"t","payload":null,"options":{"payloadType":"application/store"}}`, itemValidationErr,
			[]string{"application/store payload must be a string path"}},
		{"store payload object", `{"index":5,"task":"t","payload":{"path":"a"},"options":{"payloadType":"application/store"}}`, itemValidationErr,
			[]string{"index 5 (line 7): application/store payload must be a string path"}},
		{"store path dotdot", `{"index":5,"task":"t","payload":"../prod/x.json","options":{"payloadType":"application/store"}}`, itemValidationErr,
			[]string{"Invalid item at index 5 (line 7): payload is not a valid application/store path"}},
		{"store path absolute", `{"index":5,"task":"t","payload":"/x.json","options":{"payloadType":"application/store"}}`, itemValidationErr,
			[]string{"payload is not a valid application/store path"}},
		{"store path empty segment", `{"index":5,"task":"t","payload":"a//b","options":{"payloadType":"application/store"}}`, itemValidationErr,
			[]string{"payload is not a valid application/store path"}},
		{"store path empty", `{"index":5,"task":"t","payload":"","options":{"payloadType":"application/store"}}`, itemValidationErr,
			[]string{"payload is not a valid application/store path"}},
		{"store path escaped backslash", `{"index":5,"task":"t","payload":"a\\b","options":{"payloadType":"application/store"}}`, itemValidationErr,
			[]string{"payload is not a valid application/store path"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := decodeItem(itemTestLine, []byte(tc.line), itemTestRules)
			if err == nil {
				t.Fatalf("decodeItem(%s) = %s, want an error", tc.line, dumpItem(got))
			}
			checkItemErr(t, err, tc.kind, tc.contains...)
			if !reflect.DeepEqual(got, batch.Item{}) {
				t.Errorf("item %s returned with error, want zero", dumpItem(got))
			}
		})
	}
}

func TestDecodeItemZeroRunCount(t *testing.T) {
	t.Parallel()
	_, err := decodeItem(itemTestLine, []byte(`{"index":0,"task":"t"}`), itemRules{runCount: 0, env: "dev"})
	checkItemErr(t, err, itemValidationErr, "index is out of range, the batch has runCount 0")
}

// A batch a public token created takes items of its tasks only.
func TestDecodeItemTasksOfAToken(t *testing.T) {
	t.Parallel()
	rules := itemRules{runCount: 1, env: "dev", tasks: []string{"a", "b"}}
	if _, err := decodeItem(itemTestLine, []byte(`{"index":0,"task":"b"}`), rules); err != nil {
		t.Fatalf("an item of a listed task: %v", err)
	}
	_, err := decodeItem(itemTestLine, []byte(`{"index":0,"task":"c"}`), rules)
	checkItemErr(t, err, itemValidationErr, `task "c" is not one of the batch's taskIdentifiers`)
}

// TestDecodeItemSDKShape decodes an item shaped like the trigger.dev v3 SDK's
// BatchItemNDJSON: a superjson string payload and the options it sends.
func TestDecodeItemSDKShape(t *testing.T) {
	t.Parallel()
	inner := `{"json":{"user":"Ada","when":"2024-05-01T10:00:00.000Z","n":1},"meta":{"values":{"when":["Date"]}}}`
	type queue struct {
		Name string `json:"name"`
	}
	type idemOpts struct {
		Key   string `json:"key"`
		Scope string `json:"scope"`
	}
	line, err := json.Marshal(map[string]any{
		"index":   2,
		"task":    "send-email",
		"payload": inner,
		"options": map[string]any{
			"queue":                 queue{Name: "emails"},
			"concurrencyKey":        "user_123",
			"tags":                  []string{"user_123", "campaign:spring"},
			"idempotencyKey":        "7c9e6679f4a1e6e1c1c6a5d1f03a4c5b0c1b7d2e3f4a5b6c7d8e9f0a1b2c3d4e",
			"idempotencyKeyTTL":     "1h",
			"idempotencyKeyOptions": idemOpts{Key: "welcome", Scope: "global"},
			"payloadType":           "application/super+json",
			"payloadSize":           len(inner),
			"maxAttempts":           3,
			"metadata":              map[string]any{"source": "signup"},
			"metadataType":          "application/json",
			"lockToVersion":         "20240501.1",
			"machine":               "small-2x",
			"ttl":                   "10m",
			"delay":                 "2024-05-01T12:00:00.000Z",
			"test":                  false,
			"priority":              10,
			"region":                "us-east-1",
			"maxDuration":           300,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeItem(itemTestLine, line, itemTestRules)
	checkItemErr(t, err, itemNoErr)
	wantOptions := `{"concurrencyKey":"user_123","delay":"2024-05-01T12:00:00.000Z",` +
		`"idempotencyKey":"7c9e6679f4a1e6e1c1c6a5d1f03a4c5b0c1b7d2e3f4a5b6c7d8e9f0a1b2c3d4e","idempotencyKeyTTL":"1h",` +
		`"idempotencyKeyOptions":{"key":"welcome","scope":"global"},"lockToVersion":"20240501.1","machine":"small-2x",` +
		`"maxAttempts":3,"maxDuration":300,"metadata":{"source":"signup"},"metadataType":"application/json",` +
		`"payloadType":"application/super+json","payloadSize":` + fmt.Sprint(len(inner)) + `,"queue":{"name":"emails"},` +
		`"tags":["user_123","campaign:spring"],"test":false,"ttl":"10m","priority":10,"region":"us-east-1"}`
	want := batch.Item{
		Index:       2,
		Task:        "send-email",
		Payload:     &inner,
		PayloadType: "application/super+json",
		Options:     json.RawMessage(wantOptions),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %s\nwant %s", dumpItem(got), dumpItem(want))
	}
	// The item survives the chunk encoding unchanged.
	enc, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var back batch.Item
	if err := json.Unmarshal(enc, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, want) {
		t.Fatalf("round trip through JSON: got %s", dumpItem(back))
	}
}

// TestDecodeItemDoesNotRetainInput overwrites the input after each call and
// checks the item did not change.
func TestDecodeItemDoesNotRetainInput(t *testing.T) {
	t.Parallel()
	lines := []string{
		`{"index":1,"task":"plain-task","payload":"plain payload without escapes"}`,
		`{"index":1,"task":"esc\u00e9","payload":"with \"escapes\"\n"}`,
		`{"index":1,"task":"t","payload":{"raw":["json",1,true]}}`,
		`{"index":1,"task":"t","payload":12345}`,
		`{"index":1,"task":"t","payload":"a/b.json","options":{"payloadType":"application/store","tags":["x"]}}`,
		`{"index":1,"task":"t","options":{"metadata":{"k":"v"},"queue":{"name":"q"},"concurrencyKey":7,"externalDeploymentId":" d "}}`,
	}
	for _, line := range lines {
		want, err := decodeItem(itemTestLine, []byte(line), itemTestRules)
		checkItemErr(t, err, itemNoErr)
		buf := []byte(line)
		got, err := decodeItem(itemTestLine, buf, itemTestRules)
		checkItemErr(t, err, itemNoErr)
		for k := range buf {
			buf[k] = 'X'
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("item of %s changed after the input was overwritten:\n got %s\nwant %s", line, dumpItem(got), dumpItem(want))
		}
	}
}

func TestDecodeItemLargePayload(t *testing.T) {
	t.Parallel()
	const size = 3 << 20
	plain := strings.Repeat("abcdefghijklmnop", size/16)
	escapedText := strings.Repeat(`{"k":"v\n"},`, size/12)
	escaped, _ := json.Marshal(escapedText)
	object := `{"a":"` + plain + `"}`
	cases := []struct {
		name, payload, want string
	}{
		{"plain string", `"` + plain + `"`, plain},
		{"escaped string", string(escaped), escapedText},
		{"object", object, object},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			line := `{"index":0,"task":"t","payload":` + tc.payload + `,"options":{"payloadSize":` + fmt.Sprint(len(tc.want)) + `}}`
			got, err := decodeItem(itemTestLine, []byte(line), itemTestRules)
			checkItemErr(t, err, itemNoErr)
			if got.Payload == nil || *got.Payload != tc.want {
				t.Fatalf("payload of %d bytes not decoded as sent", len(tc.want))
			}
			if want := `{"payloadSize":` + fmt.Sprint(len(tc.want)) + `}`; string(got.Options) != want {
				t.Errorf("options = %s, want %s", got.Options, want)
			}
		})
	}
}

func dumpItem(it batch.Item) string {
	p := "<nil>"
	if it.Payload != nil {
		p = *it.Payload
		if len(p) > 200 {
			p = p[:200] + "..."
		}
		p = fmt.Sprintf("%q", p)
	}
	return fmt.Sprintf("{Index:%d Task:%q Payload:%s PayloadType:%q Options:%s PacketSize:%d ErrorCode:%q ErrorMessage:%q}",
		it.Index, it.Task, p, it.PayloadType, it.Options, it.PacketSize, it.ErrorCode, it.ErrorMessage)
}

func BenchmarkDecodeItem(b *testing.B) {
	small := []byte(`{"index":42,"task":"send-email","payload":"{\"json\":{\"to\":\"ada@example.com\",\"subject\":\"Welcome\"}}",` +
		`"options":{"queue":{"name":"emails"},"tags":["signup"],"idempotencyKey":"k-42","payloadType":"application/super+json"}}`)
	small = append(small[:len(small)-2], []byte(`,"maxAttempts":3}}`)...)
	for len(small) < 256 {
		small = append(small[:len(small)-2], []byte(`,"region":"eu"}}`)...)
	}
	bigPayload, _ := json.Marshal(strings.Repeat(`{"k":"v"},`, (1<<20)/10))
	big := []byte(`{"index":7,"task":"import","payload":` + string(bigPayload) + `,"options":{"payloadType":"application/super+json"}}`)
	bigPlain := []byte(`{"index":7,"task":"import","payload":"` + strings.Repeat("abcdefgh", (1<<20)/8) + `"}`)
	bigObject := []byte(`{"index":7,"task":"import","payload":{"rows":[` + strings.Repeat(`{"k":"v","n":1},`, (1<<20)/16) + `{}]}}`)
	rules := itemRules{runCount: 1000, env: "dev"}
	for _, bc := range []struct {
		name string
		line []byte
	}{
		{fmt.Sprintf("item_%dB", len(small)), small},
		{"payload_1MiB_escaped", big},
		{"payload_1MiB_plain", bigPlain},
		{"payload_1MiB_object", bigObject},
	} {
		if _, err := decodeItem(1, bc.line, rules); err != nil {
			b.Fatalf("%s: %v", bc.name, err)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.line)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeItem(1, bc.line, rules); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A stream sent with a batch's public access token (write:batch:<id>) may
// reference only that batch's uploads: a path of the environment outside
// uploads/<id>/, such as another batch's upload the Go client named
// predictably, is refused with the item's index. A stream
// sent with an API key keeps referencing any path of its environment.
func TestStorePathOfTokenStreamMustBeTheBatchsUpload(t *testing.T) {
	t.Parallel()
	own := itemRules{runCount: 10, env: "dev", uploadsOf: "batch_aaaaaaaaaaaaaaaaaaaaaaaa"}
	line := func(path string) []byte {
		return []byte(`{"index":3,"task":"t","payload":"` + path + `","options":{"payloadType":"application/store"}}`)
	}
	it, err := decodeItem(itemTestLine, line("uploads/batch_aaaaaaaaaaaaaaaaaaaaaaaa/item_3.json"), own)
	if err != nil || it.Payload == nil || *it.Payload != "packets/dev/uploads/batch_aaaaaaaaaaaaaaaaaaaaaaaa/item_3.json" {
		t.Fatalf("the batch's own upload: %+v, %v", it, err)
	}
	for _, path := range []string{
		"uploads/batch_bbbbbbbbbbbbbbbbbbbbbbbb/item_3.json", // another batch's upload
		"uploads/batch_aaaaaaaaaaaaaaaaaaaaaaaab/x.json",     // a longer id with this one as prefix
		"uploads/batch_aaaaaaaaaaaaaaaaaaaaaaaa",             // the folder itself
		"trigger/packet_x/payload.json",                      // an SDK upload of the environment
		"uploads/x.json",
	} {
		_, err := decodeItem(itemTestLine, line(path), own)
		checkItemErr(t, err, itemValidationErr, "Invalid item at index 3 (line 7)", "not uploaded for this batch", "uploads/batch_aaaaaaaaaaaaaaaaaaaaaaaa/")
		if _, err := decodeItem(itemTestLine, line(path), itemTestRules); err != nil {
			t.Fatalf("%s with an API key: %v", path, err)
		}
	}
	// The other checks still come first.
	_, err = decodeItem(itemTestLine, line("uploads/batch_aaaaaaaaaaaaaaaaaaaaaaaa/../x.json"), own)
	checkItemErr(t, err, itemValidationErr, "not a valid application/store path")
}
