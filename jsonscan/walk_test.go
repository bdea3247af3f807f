package jsonscan

import (
	"strconv"
	"strings"
	"testing"
)

func TestKind(t *testing.T) {
	for in, want := range map[string]string{`{}`: "object", `[1]`: "array", `"s"`: "string", `true`: "boolean",
		`false`: "boolean", `null`: "null", `-1`: "number", `0.5`: "number", ``: "nothing"} {
		if got := Kind([]byte(in)); got != want {
			t.Errorf("Kind(%q) = %q, want %q", in, got, want)
		}
	}
}

// members lists what Object(in) walks as key=value, and "key=<cut>" for a
// key whose value is cut off.
func members(in string) string {
	var out []string
	m := Object([]byte(in))
	for {
		key, val, ok := m.Next()
		switch {
		case key == nil:
			return strings.Join(out, " ")
		case val == nil:
			out = append(out, string(key)+"=<cut>")
		default:
			out = append(out, string(key)+"="+string(val))
		}
		if !ok {
			return strings.Join(out, " ")
		}
	}
}

func TestObject(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{}`, ``},
		{`{ "a" : 1 , "b":[1,{"c":"}"}],"a":"x\"y"}`, `"a"=1 "b"=[1,{"c":"}"}] "a"="x\"y"`},
		{`{"a":{"b":2},"c":null} trailing`, `"a"={"b":2} "c"=null`},
		{`{"a":1,"b":"cut`, `"a"=1 "b"=<cut>`},
		{`{"a":12`, `"a"=<cut>`}, // a number ends only at a delimiter
		{`{"a":1,"b":`, `"a"=1`},
		{`{"a":1 "b":2}`, `"a"=1`}, // no comma: stop
		{`{,"a":1}`, ``},
		{`{"a"1}`, ``},
		{`{"a`, ``},
	} {
		if got := members(tc.in); got != tc.want {
			t.Errorf("Object(%s) walks %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestArray(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`[]`, ``},
		{`[ 1 , "a,]" ,{"b":[2]},[],null ]`, `1|"a,]"|{"b":[2]}|[]|null`},
		{`[1,]`, `1`},
		{`[1 2]`, `1`},
		{`[1,"cut`, `1`},
	} {
		var got []string
		e := Array([]byte(tc.in))
		for v, ok := e.Next(); ok; v, ok = e.Next() {
			got = append(got, string(v))
		}
		if strings.Join(got, "|") != tc.want {
			t.Errorf("Array(%s) walks %s, want %s", tc.in, strings.Join(got, "|"), tc.want)
		}
	}
}

func TestParseDigits(t *testing.T) {
	maxInt := strconv.Itoa(int(^uint(0) >> 1))
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"0", 0, true}, {"7", 7, true}, {"1234567890", 1234567890, true}, {maxInt, int(^uint(0) >> 1), true},
		{"", 0, false}, {"01", 0, false}, {"-1", 0, false}, {"1.0", 0, false}, {"1e3", 0, false},
		{"99999999999999999999999", 0, false}, {maxInt[:len(maxInt)-1] + "8", 0, false}, {`"1"`, 0, false},
	} {
		if got, ok := ParseDigits([]byte(tc.in)); got != tc.want || ok != tc.ok {
			t.Errorf("ParseDigits(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestUnicodeEscape(t *testing.T) {
	for _, tc := range []struct {
		in   string
		r    rune
		n    int
		lone bool
	}{
		{`\u0041x`, 'A', 6, false},
		{`\u0000`, 0, 6, false},
		{`\ud83d\ude00`, '😀', 12, false},
		{`\ud83d`, '\uFFFD', 6, true},
		{`\ude00\ud83d`, '\uFFFD', 6, true},
		{`\ud83d\u0041`, '\uFFFD', 6, true},
		{`\ud83d\ud83d\ude00`, '\uFFFD', 6, true},
		{`\u12`, 0, 0, false},
		{`\uzzzz`, 0, 0, false},
		{`\u`, 0, 0, false},
	} {
		if r, n, lone := UnicodeEscape([]byte(tc.in)); r != tc.r || n != tc.n || lone != tc.lone {
			t.Errorf("UnicodeEscape(%s) = %q, %d, %v; want %q, %d, %v", tc.in, r, n, lone, tc.r, tc.n, tc.lone)
		}
	}
}

func TestTrimSpace(t *testing.T) {
	for in, want := range map[string]string{"": "", " \t\r\n": "", " \"a\" \n": `"a"`, "\v1\f": "\v1\f", "x": "x"} {
		if got := string(TrimSpace([]byte(in))); got != want {
			t.Errorf("TrimSpace(%q) = %q, want %q", in, got, want)
		}
	}
}
