package ndjson

import (
	"strconv"
	"strings"
	"testing"
)

func TestSniff(t *testing.T) {
	t.Parallel()
	pad := strings.Repeat("p", 600)
	tests := []struct {
		name    string
		in      string
		index   int
		indexOK bool
		task    string
		taskOK  bool
	}{
		{name: "extracts both", in: `{"index":5,"task":"my-task","payload":{"a":1}}`, index: 5, indexOK: true, task: "my-task", taskOK: true},
		{name: "missing both", in: `{"payload":{"a":1},"options":{}}`},
		{name: "missing index", in: `{"task":"t"}`, task: "t", taskOK: true},
		{name: "missing task", in: `{"index":0}`, index: 0, indexOK: true},
		{name: "any key order", in: `{"payload":"x","task":"t2","options":[1,2],"index":17}`, index: 17, indexOK: true, task: "t2", taskOK: true},
		{name: "whitespace everywhere", in: " \t{ \"task\" :\n \"a b\" , \r\n \"index\"\t:\t3 }", index: 3, indexOK: true, task: "a b", taskOK: true},
		{name: "nested keys ignored, top-level wins", in: `{"options":{"index":9,"task":"inner"},"index":3,"task":"outer"}`, index: 3, indexOK: true, task: "outer", taskOK: true},
		{name: "nested only", in: `{"options":{"index":9},"payload":[{"task":"x"}]}`},
		{name: "keys in nested arrays ignored", in: `{"payload":[["index",1],{"index":2}],"index":8}`, index: 8, indexOK: true},
		{name: "string value containing index text", in: `{"payload":"{\"index\":99,\"task\":\"fake\"}","index":1,"task":"real"}`, index: 1, indexOK: true, task: "real", taskOK: true},
		{name: "string value containing index text, no real keys", in: `{"payload":"\"index\":99, \"task\":\"fake\""}`},
		{name: "key named like index inside a string with braces", in: `{"s":"}{\"index\":7","index":2}`, index: 2, indexOK: true},
		{name: "negative index", in: `{"index":-1,"task":"t"}`, task: "t", taskOK: true},
		{name: "float index", in: `{"index":1.5,"task":"t"}`, task: "t", taskOK: true},
		{name: "exponent index", in: `{"index":1e3}`},
		{name: "leading zero index", in: `{"index":01}`},
		{name: "string index", in: `{"index":"3"}`},
		{name: "null index", in: `{"index":null,"task":"t"}`, task: "t", taskOK: true},
		{name: "max int index", in: `{"index":` + strconv.Itoa(int(^uint(0)>>1)) + `}`, index: int(^uint(0) >> 1), indexOK: true},
		{name: "index overflows int", in: `{"index":99999999999999999999999}`},
		{name: "task string with escapes", in: `{"task":"a\"b\\c\/d\n\tz\u00e9\ud83d\ude00","index":4}`, index: 4, indexOK: true, task: "a\"b\\c/d\n\tzé😀", taskOK: true},
		{name: "task with raw UTF-8", in: `{"task":"日本語"}`, task: "日本語", taskOK: true},
		{name: "task with lone surrogate", in: `{"task":"x\ud800y"}`, task: "x\uFFFDy", taskOK: true},
		{name: "task with invalid escape", in: `{"task":"x\qy","index":1}`, index: 1, indexOK: true},
		{name: "task not a string", in: `{"task":42,"index":1}`, index: 1, indexOK: true},
		{name: "escaped key", in: `{"\u0069ndex":6,"t\u0061sk":"esc"}`, index: 6, indexOK: true, task: "esc", taskOK: true},
		{name: "duplicate key, last wins", in: `{"index":1,"index":2}`, index: 2, indexOK: true},
		{name: "not an object", in: `[{"index":1}]`},
		{name: "empty", in: ``},
		{name: "stops at end of top-level object", in: `{"a":1} {"index":3}`},
		{name: "large payload before keys is skipped", in: `{"payload":"` + strings.Repeat("y", 300) + `","index":11,"task":"late"}`, index: 11, indexOK: true, task: "late", taskOK: true},
		{name: "keys beyond 512-byte window not found", in: `{"payload":"` + pad + `","index":11,"task":"late"}`},
		{name: "index before a long payload", in: `{"index":11,"task":"early","payload":"` + pad + `"}`, index: 11, indexOK: true, task: "early", taskOK: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			index, indexOK, task, taskOK := Sniff([]byte(tc.in))
			if index != tc.index || indexOK != tc.indexOK || task != tc.task || taskOK != tc.taskOK {
				t.Errorf("Sniff(%.80q) = (%d, %v, %q, %v), want (%d, %v, %q, %v)",
					tc.in, index, indexOK, task, taskOK, tc.index, tc.indexOK, tc.task, tc.taskOK)
			}
		})
	}
}

// TestSniffWindow checks values cut off by the 512-byte window.
func TestSniffWindow(t *testing.T) {
	t.Parallel()
	prefix := func(n int) string { // a member that brings the object to n bytes
		return `{"p":"` + strings.Repeat("w", n-len(`{"p":"`)-2) + `",`
	}
	tests := []struct {
		name    string
		in      string
		index   int
		indexOK bool
		task    string
		taskOK  bool
	}{
		{name: "task closed at byte 512", in: prefix(500) + `"task":"abc"` + `,"index":1}`, task: "abc", taskOK: true},
		{name: "task cut off by window", in: prefix(500) + `"task":"abcdefghijklmnop"}`},
		{name: "index terminated inside window", in: prefix(500) + `"index":123,"x":1}`, index: 123, indexOK: true},
		{name: "index cut off by window", in: prefix(500) + `"index":12345678}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			index, indexOK, task, taskOK := Sniff([]byte(tc.in))
			if index != tc.index || indexOK != tc.indexOK || task != tc.task || taskOK != tc.taskOK {
				t.Errorf("Sniff = (%d, %v, %q, %v), want (%d, %v, %q, %v)",
					index, indexOK, task, taskOK, tc.index, tc.indexOK, tc.task, tc.taskOK)
			}
		})
	}
}
