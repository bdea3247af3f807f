package ingest

import (
	"encoding/json"
	"strings"
	"testing"
)

// optionsLine wraps an options value in an item at index 4.
func optionsLine(options string) []byte {
	return []byte(`{"index":4,"task":"t","payload":"p","options":` + options + `}`)
}

func TestItemOptionsAccepted(t *testing.T) {
	t.Parallel()
	long := func(c string, n int) string { return strings.Repeat(c, n) }
	cases := []struct {
		name    string
		options string
		want    string // Item.Options; "" means nil
	}{
		{"empty", `{}`, ""},
		{"unknown dropped", `{"foo":1,"bar":{"x":[1]},"__error":"boom","__errorCode":"E1"}`, ""},
		{"internal keys dropped, known kept", `{"__error":{"message":"x"},"queue":{"name":"q"},"__errorCode":"X"}`, `{"queue":{"name":"q"}}`},
		{"spaces compacted", "{ \"tags\" : [ \"a\" , \"b\" ] ,\t\"metadata\" : { \"k\" : [ 1 , 2 ] } }", `{"metadata":{"k":[1,2]},"tags":["a","b"]}`},
		{"canonical order", `{"region":"eu","concurrencyKey":"c","debounce":{"delay":"1s","key":"k"}}`,
			`{"concurrencyKey":"c","region":"eu","debounce":{"key":"k","delay":"1s"}}`},
		{"duplicate key last wins", `{"test":"nope","test":true}`, `{"test":true}`},
		{"escaped key", `{"\u0074est":false}`, `{"test":false}`},
		{"string escapes kept", `{"idempotencyKey":"a\"b\u00e9"}`, `{"idempotencyKey":"a\"b\u00e9"}`},

		{"concurrencyKey string", `{"concurrencyKey":"user-1"}`, `{"concurrencyKey":"user-1"}`},
		{"concurrencyKey number", `{"concurrencyKey":12}`, `{"concurrencyKey":"12"}`},
		{"concurrencyKey 12.0", `{"concurrencyKey":12.0}`, `{"concurrencyKey":"12"}`},
		{"concurrencyKey fraction", `{"concurrencyKey":-1.5}`, `{"concurrencyKey":"-1.5"}`},
		{"concurrencyKey exponent", `{"concurrencyKey":1e21}`, `{"concurrencyKey":"1e+21"}`},
		{"concurrencyKey large", `{"concurrencyKey":1e20}`, `{"concurrencyKey":"100000000000000000000"}`},
		{"concurrencyKey small", `{"concurrencyKey":0.000001}`, `{"concurrencyKey":"0.000001"}`},
		{"concurrencyKey tiny", `{"concurrencyKey":1.5e-7}`, `{"concurrencyKey":"1.5e-7"}`},
		{"concurrencyKey -0", `{"concurrencyKey":-0}`, `{"concurrencyKey":"0"}`},

		{"delay string", `{"delay":"1h"}`, `{"delay":"1h"}`},
		{"delay date", `{"delay":"2024-05-01T00:00:00Z"}`, `{"delay":"2024-05-01T00:00:00Z"}`},
		{"idempotencyKey 2048", `{"idempotencyKey":"` + long("k", 2048) + `"}`, `{"idempotencyKey":"` + long("k", 2048) + `"}`},
		{"idempotencyKey 2048 chars multibyte", `{"idempotencyKey":"` + long("é", 2048) + `"}`, `{"idempotencyKey":"` + long("é", 2048) + `"}`},
		{"idempotencyKeyTTL", `{"idempotencyKeyTTL":"24h"}`, `{"idempotencyKeyTTL":"24h"}`},
		{"idempotencyKeyOptions", `{"idempotencyKeyOptions":{"scope":"attempt","key":"k","extra":1}}`, `{"idempotencyKeyOptions":{"key":"k","scope":"attempt"}}`},
		{"idempotencyKeyOptions run", `{"idempotencyKeyOptions":{"key":"k","scope":"run"}}`, `{"idempotencyKeyOptions":{"key":"k","scope":"run"}}`},
		{"lockToVersion", `{"lockToVersion":"20240101.1"}`, `{"lockToVersion":"20240101.1"}`},
		{"externalDeploymentId", `{"externalDeploymentId":"dep_1"}`, `{"externalDeploymentId":"dep_1"}`},
		{"externalDeploymentId trimmed", `{"externalDeploymentId":" \t\u00a0dep_1\ufeff\n"}`, `{"externalDeploymentId":"dep_1"}`},
		{"externalDeploymentId 256 after trim", `{"externalDeploymentId":"  ` + long("d", 256) + `  "}`, `{"externalDeploymentId":"` + long("d", 256) + `"}`},
		{"machine", `{"machine":"large-2x"}`, `{"machine":"large-2x"}`},
		{"machine micro", `{"machine":"micro"}`, `{"machine":"micro"}`},
		{"maxAttempts", `{"maxAttempts":3}`, `{"maxAttempts":3}`},
		{"maxAttempts zero", `{"maxAttempts":0}`, `{"maxAttempts":0}`},
		{"maxAttempts 3.0 normalized", `{"maxAttempts":3.0}`, `{"maxAttempts":3}`},
		{"maxAttempts 5e1 normalized", `{"maxAttempts":5e1}`, `{"maxAttempts":50}`},
		{"maxDuration", `{"maxDuration":1.5}`, `{"maxDuration":1.5}`},
		{"maxDuration negative", `{"maxDuration":-2}`, `{"maxDuration":-2}`},
		{"metadata object", `{"metadata":{"a":{"b":[1,"x"]}}}`, `{"metadata":{"a":{"b":[1,"x"]}}}`},
		{"metadata string", `{"metadata":"s"}`, `{"metadata":"s"}`},
		{"metadata null", `{"metadata":null}`, `{"metadata":null}`},
		{"metadataType", `{"metadataType":"application/super+json"}`, `{"metadataType":"application/super+json"}`},
		{"parentAttempt", `{"parentAttempt":"attempt_1"}`, `{"parentAttempt":"attempt_1"}`},
		{"payloadType", `{"payloadType":"application/super+json"}`, `{"payloadType":"application/super+json"}`},
		{"payloadType 256 bytes", `{"payloadType":"` + long("x", 256) + `"}`, `{"payloadType":"` + long("x", 256) + `"}`},
		{"payloadSize", `{"payloadSize":1048576}`, `{"payloadSize":1048576}`},
		{"payloadSize large", `{"payloadSize":5e9}`, `{"payloadSize":5000000000}`},
		{"queue", `{"queue":{"name":"q","concurrencyLimit":5,"x":1}}`, `{"queue":{"name":"q","concurrencyLimit":5}}`},
		{"tags string", `{"tags":"one"}`, `{"tags":"one"}`},
		{"tags array", `{"tags":["a","b"]}`, `{"tags":["a","b"]}`},
		{"tags empty array", `{"tags":[]}`, `{"tags":[]}`},
		{"tags 10", `{"tags":["1","2","3","4","5","6","7","8","9","10"]}`, `{"tags":["1","2","3","4","5","6","7","8","9","10"]}`},
		{"tag 128 chars", `{"tags":["` + long("t", 128) + `"]}`, `{"tags":["` + long("t", 128) + `"]}`},
		{"test true", `{"test":true}`, `{"test":true}`},
		{"ttl string", `{"ttl":"10m"}`, `{"ttl":"10m"}`},
		{"ttl seconds", `{"ttl":3600}`, `{"ttl":3600}`},
		{"ttl 60.0 normalized", `{"ttl":60.0}`, `{"ttl":60}`},
		{"priority", `{"priority":-10.5}`, `{"priority":-10.5}`},
		{"region", `{"region":"us-east-1"}`, `{"region":"us-east-1"}`},
		{"debounce full", `{"debounce":{"maxDelay":"1m","mode":"trailing","delay":"5s","key":"k","x":1}}`,
			`{"debounce":{"key":"k","delay":"5s","mode":"trailing","maxDelay":"1m"}}`},
		{"debounce leading", `{"debounce":{"key":"k","delay":"5s","mode":"leading"}}`, `{"debounce":{"key":"k","delay":"5s","mode":"leading"}}`},
		{"debounce key 512", `{"debounce":{"key":"` + long("k", 512) + `","delay":"5s"}}`, `{"debounce":{"key":"` + long("k", 512) + `","delay":"5s"}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := decodeItem(itemTestLine, optionsLine(tc.options), itemTestRules)
			checkItemErr(t, err, itemNoErr)
			if tc.want == "" {
				if got.Options != nil {
					t.Errorf("options %s, want nil", got.Options)
				}
				return
			}
			if string(got.Options) != tc.want {
				t.Errorf("options\n got %s\nwant %s", got.Options, tc.want)
			}
			if !json.Valid(got.Options) {
				t.Errorf("options %s are not valid JSON", got.Options)
			}
		})
	}
}

func TestItemOptionsRefused(t *testing.T) {
	t.Parallel()
	long := func(c string, n int) string { return strings.Repeat(c, n) }
	cases := []struct {
		name, options, msg string
	}{
		{"concurrencyKey bool", `{"concurrencyKey":true}`, "options.concurrencyKey must be a string or a number, got boolean"},
		{"concurrencyKey null", `{"concurrencyKey":null}`, "options.concurrencyKey must be a string or a number, got null"},
		{"concurrencyKey infinite", `{"concurrencyKey":1e999}`, "options.concurrencyKey must be a finite number"},
		{"delay number", `{"delay":60}`, "options.delay must be a string, got number"},
		{"delay object", `{"delay":{"s":1}}`, "options.delay must be a string, got object"},
		{"idempotencyKey number", `{"idempotencyKey":1}`, "options.idempotencyKey must be a string, got number"},
		{"idempotencyKey too long", `{"idempotencyKey":"` + long("k", 2049) + `"}`, "options.idempotencyKey is longer than 2048 characters"},
		{"idempotencyKey too long astral", `{"idempotencyKey":"` + long("😀", 1025) + `"}`, "options.idempotencyKey is longer than 2048 characters"},
		{"idempotencyKeyTTL number", `{"idempotencyKeyTTL":3600}`, "options.idempotencyKeyTTL must be a string, got number"},
		{"idempotencyKeyTTL not a duration", `{"idempotencyKeyTTL":"1.5h"}`, `options.idempotencyKeyTTL must be a duration such as "30s", "10m", "1h" or "7d", got "1.5h"`},
		{"idempotencyKeyOptions string", `{"idempotencyKeyOptions":"k"}`, "options.idempotencyKeyOptions must be an object, got string"},
		{"idempotencyKeyOptions no key", `{"idempotencyKeyOptions":{"scope":"run"}}`, "options.idempotencyKeyOptions.key is required"},
		{"idempotencyKeyOptions no scope", `{"idempotencyKeyOptions":{"key":"k"}}`, "options.idempotencyKeyOptions.scope is required"},
		{"idempotencyKeyOptions key number", `{"idempotencyKeyOptions":{"key":1,"scope":"run"}}`, "options.idempotencyKeyOptions.key must be a string, got number"},
		{"idempotencyKeyOptions bad scope", `{"idempotencyKeyOptions":{"key":"k","scope":"forever"}}`,
			`options.idempotencyKeyOptions.scope must be one of run, attempt, global, got "forever"`},
		{"lockToVersion number", `{"lockToVersion":1}`, "options.lockToVersion must be a string, got number"},
		{"externalDeploymentId number", `{"externalDeploymentId":1}`, "options.externalDeploymentId must be a string, got number"},
		{"externalDeploymentId too long", `{"externalDeploymentId":" ` + long("d", 257) + ` "}`, "options.externalDeploymentId is longer than 256 characters"},
		{"machine unknown", `{"machine":"huge"}`, `options.machine must be one of micro, small-1x, small-2x, medium-1x, medium-2x, large-1x, large-2x, got "huge"`},
		{"machine number", `{"machine":1}`, "options.machine must be one of micro, small-1x, small-2x, medium-1x, medium-2x, large-1x, large-2x, got number"},
		{"maxAttempts negative", `{"maxAttempts":-1}`, "options.maxAttempts must be a non-negative integer, got -1"},
		{"maxAttempts fraction", `{"maxAttempts":1.5}`, "options.maxAttempts must be a non-negative integer, got 1.5"},
		{"maxAttempts string", `{"maxAttempts":"3"}`, `options.maxAttempts must be a non-negative integer, got "3"`},
		{"maxAttempts 2^31", `{"maxAttempts":2147483648}`, "options.maxAttempts must be a non-negative integer, got 2147483648"},
		{"maxDuration string", `{"maxDuration":"1h"}`, "options.maxDuration must be a number, got string"},
		{"maxDuration infinite", `{"maxDuration":-1e400}`, "options.maxDuration must be a finite number"},
		{"metadataType number", `{"metadataType":1}`, "options.metadataType must be a string, got number"},
		{"parentAttempt bool", `{"parentAttempt":false}`, "options.parentAttempt must be a string, got boolean"},
		{"payloadType empty", `{"payloadType":""}`, "options.payloadType must be a non-empty string"},
		{"payloadType number", `{"payloadType":1}`, "options.payloadType must be a non-empty string, got number"},
		{"payloadType too long", `{"payloadType":"` + long("x", 257) + `"}`, "options.payloadType is longer than 256 bytes"},
		{"payloadSize negative", `{"payloadSize":-5}`, "options.payloadSize must be a non-negative integer, got -5"},
		{"payloadSize fraction", `{"payloadSize":0.5}`, "options.payloadSize must be a non-negative integer, got 0.5"},
		{"queue string", `{"queue":"q"}`, "options.queue must be an object, got string"},
		{"queue no name", `{"queue":{"concurrencyLimit":1}}`, "options.queue.name is required"},
		{"queue name null", `{"queue":{"name":null}}`, "options.queue.name must be a string, got null"},
		{"tags number", `{"tags":1}`, "options.tags must be a string or an array of strings, got number"},
		{"tags object", `{"tags":{"a":"b"}}`, "options.tags must be a string or an array of strings, got object"},
		{"tags element number", `{"tags":["a",2]}`, "options.tags[1] must be a string, got number"},
		{"tags 11", `{"tags":["1","2","3","4","5","6","7","8","9","10","11"]}`, "options.tags must have at most 10 tags"},
		{"tag too long", `{"tags":["a","` + long("t", 129) + `"]}`, "options.tags[1] is longer than 128 characters"},
		{"single tag too long", `{"tags":"` + long("t", 129) + `"}`, "options.tags is longer than 128 characters"},
		{"test string", `{"test":"true"}`, `options.test must be a boolean, got string`},
		{"ttl negative", `{"ttl":-1}`, "options.ttl must be a string or a non-negative integer, got -1"},
		{"ttl fraction", `{"ttl":1.5}`, "options.ttl must be a string or a non-negative integer, got 1.5"},
		{"ttl bool", `{"ttl":true}`, "options.ttl must be a string or a non-negative integer, got true"},
		{"priority string", `{"priority":"high"}`, "options.priority must be a number, got string"},
		{"region number", `{"region":1}`, "options.region must be a string, got number"},
		{"debounce string", `{"debounce":"5s"}`, "options.debounce must be an object, got string"},
		{"debounce no key", `{"debounce":{"delay":"5s"}}`, "options.debounce.key is required"},
		{"debounce no delay", `{"debounce":{"key":"k"}}`, "options.debounce.delay is required"},
		{"debounce key too long", `{"debounce":{"key":"` + long("k", 513) + `","delay":"5s"}}`, "options.debounce.key is longer than 512 characters"},
		{"debounce bad mode", `{"debounce":{"key":"k","delay":"5s","mode":"both"}}`, `options.debounce.mode must be one of leading, trailing, got "both"`},
		{"debounce maxDelay number", `{"debounce":{"key":"k","delay":"5s","maxDelay":60}}`, "options.debounce.maxDelay must be a string, got number"},
		{"first bad key reported", `{"tags":1,"concurrencyKey":false}`, "options.concurrencyKey must be a string or a number, got boolean"},
		{"bad value despite unknown keys", `{"__error":"x","test":1}`, "options.test must be a boolean, got number"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := decodeItem(itemTestLine, optionsLine(tc.options), itemTestRules)
			if err == nil {
				t.Fatalf("options %s accepted as %s, want an error", tc.options, got.Options)
			}
			want := "Invalid item at index 4 (line 7): " + tc.msg
			checkItemErr(t, err, itemValidationErr, want)
			if err.Error() != want {
				t.Errorf("message\n got %q\nwant %q", err.Error(), want)
			}
		})
	}
}
