package client

import (
	"encoding/json"
	"testing"
)

// TestStoredForm checks that an uploaded payload's object holds what
// encoding/json would decode a JSON string payload to, and any other
// payload as its text.
func TestStoredForm(t *testing.T) {
	for _, tc := range []struct{ payload, want string }{
		{`"plain text"`, "plain text"},
		{` "padded" `, "padded"},
		{`"esc\"aped\n\u00fc"`, "esc\"aped\nü"},
		{`{"a":1}`, `{"a":1}`},
		{`42`, `42`},
		{`"cut off`, `"cut off`},
		{`"two" "strings"`, `"two" "strings"`},
		{`""`, ""},
		{"\v\"not JSON\"", "\v\"not JSON\""}, // \v is not JSON whitespace: stored as sent
	} {
		if got := string(storedForm(json.RawMessage(tc.payload))); got != tc.want {
			t.Errorf("storedForm(%s) = %q, want %q", tc.payload, got, tc.want)
		}
	}
	if p := StringPayload("x😀 <&>"); string(storedForm(p)) != "x😀 <&>" {
		t.Errorf("storedForm(%s) = %q", p, storedForm(p))
	}
}
