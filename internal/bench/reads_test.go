package bench

import (
	"strings"
	"testing"
)

func TestCountItems(t *testing.T) {
	for _, tc := range []struct {
		body string
		n    int
		next string
	}{
		{`{"data":[{"id":"a","payload":"x","o":{"k":[1,2]}},{"id":"b"}],"nextCursor":"7"}`, 2, "7"},
		{`{"data":[]}`, 0, ""},
		{`{"id":"batch_x","items":[{"ok":true,"output":"[1]"},{"ok":false,"error":{"name":"E"}},{"ok":true}]}`, 3, ""},
	} {
		n, next, err := countItems(strings.NewReader(tc.body))
		if err != nil || n != tc.n || next != tc.next {
			t.Fatalf("%s: %d %q %v", tc.body, n, next, err)
		}
	}
}
