package jsonscan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSkipString(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{`"" x`, 2},
		{`"abc",`, 5},
		{`"a\"b"`, 6},
		{`"a\\"b`, 5},
		{`"` + strings.Repeat("x", 40) + `"`, 42}, // the 8-byte fast path
		{`"` + strings.Repeat("x", 40) + `\"` + `"`, 44},
		{`"abc`, -1},
		{`"abc\`, -1},
		{`"ab` + "\n" + `c"`, -1},
		{`"` + strings.Repeat("y", 17) + "\x01" + `"`, -1},
	} {
		if got := SkipString([]byte(tc.in), 0); got != tc.want {
			t.Errorf("SkipString(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestSkipValue(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{`"s",`, 3},
		{`{"a":[1,{"b":"}"}]},`, 19},
		{`[[],[]]`, 7},
		{`12.5e3,`, 6},
		{`true}`, 4},
		{`null `, 4},
		{`12`, -1},     // a number is complete only when a delimiter follows
		{`{"a":1`, -1}, // cut off
		{`[1,"]`, -1},
		{`,1`, -1},
		{`}`, -1},
		{``, -1},
		{`1"`, -1},
	} {
		if got := SkipValue([]byte(tc.in), 0); got != tc.want {
			t.Errorf("SkipValue(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestUnquote(t *testing.T) {
	for _, in := range []string{
		`""`, `"plain"`, `"a\"b\\c\/d"`, `"\b\f\n\r\t"`, `"\u00e9\u4e2d"`,
		`"\ud83d\ude00 smile"`, `"lone \ud800 high"`, `"lone \udc00 low"`, `"\ud800\u0041"`,
		`"\ud800\ud800\udc00"`, `"` + strings.Repeat(`x\n`, 100) + `"`, `"héllo"`,
		`"\ud83d\u0041"`, `"\ud83dx"`, `"tail\\"`, `"\u0000"`, `"\\\""`,
	} {
		got, ok := Unquote([]byte(in))
		var want string
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatalf("test input %s: %v", in, err)
		}
		if !ok || got != want {
			t.Errorf("Unquote(%s) = %q, %v; want %q (encoding/json)", in, got, ok, want)
		}
		if b, ok := UnquoteBytes([]byte(in)); !ok || string(b) != want {
			t.Errorf("UnquoteBytes(%s) = %q, %v; want %q (encoding/json)", in, b, ok, want)
		}
	}
	for _, in := range []string{`"`, `"\x"`, `"\u12"`, `"\u12zz"`, `"ab\"`} {
		if got, ok := Unquote([]byte(in)); ok {
			t.Errorf("Unquote(%s) = %q, ok; want a failure", in, got)
		}
		if got, ok := UnquoteBytes([]byte(in)); ok {
			t.Errorf("UnquoteBytes(%s) = %q, ok; want a failure", in, got)
		}
	}
}

// FuzzUnquote checks Unquote against encoding/json on every valid JSON
// string in valid UTF-8 (the NDJSON reader refuses other lines before any
// decoding; encoding/json would replace bad bytes with U+FFFD).
func FuzzUnquote(f *testing.F) {
	for _, s := range []string{`"a"`, `"\ud83d\ude00"`, `"\ud800"`, `"x\ty\u0000"`, `"\\\/"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var want string
		if !utf8.ValidString(in) || json.Unmarshal([]byte(in), &want) != nil || !Valid([]byte(in)) {
			return
		}
		in = strings.TrimSpace(in)
		if got, ok := Unquote([]byte(in)); !ok || got != want {
			t.Fatalf("Unquote(%q) = %q, %v; want %q", in, got, ok, want)
		}
		if end := SkipString([]byte(in), 0); end != len(in) {
			t.Fatalf("SkipString(%q) = %d, want %d", in, end, len(in))
		}
	})
}

func TestQuote(t *testing.T) {
	for _, s := range []string{"", "abc", strings.Repeat("x", 41), "a\"b", `back\slash`, "tab\there",
		strings.Repeat("y", 17) + "\x01", "<html> & ü 😀", "\u2028", "bad \xff utf8", strings.Repeat("z", 16) + `"`} {
		got := Quote(s)
		if !Valid(got) {
			t.Errorf("Quote(%q) = %s: not valid JSON", s, got)
			continue
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("Quote(%q) = %s: %v", s, got, err)
		}
		if want, _ := json.Marshal(s); utf8.ValidString(s) && back != s || !utf8.ValidString(s) && string(got) != string(want) {
			t.Errorf("Quote(%q) = %s, decodes to %q", s, got, back)
		}
	}
}

func TestAppendQuoted(t *testing.T) {
	for _, s := range []string{"", "plain", "q\"b\\s", "\x00\x01\x1f\n\r\t", "<html>&", "é😀\u2028", "bad\xffutf8"} {
		enc := AppendQuoted([]byte("x"), s)[1:]
		var back string
		if err := json.Unmarshal(enc, &back); err != nil {
			t.Fatalf("AppendQuoted(%q) = %s: %v", s, enc, err)
		}
		if want := strings.ToValidUTF8(s, "\uFFFD"); back != want {
			t.Errorf("AppendQuoted(%q) decodes to %q, want %q", s, back, want)
		}
		if bytes.Contains(enc, []byte(`\u003c`)) {
			t.Errorf("AppendQuoted(%q) = %s escapes HTML", s, enc)
		}
	}
}

func FuzzQuote(f *testing.F) {
	for _, s := range []string{"a", "x\"y", "\\", "\x00", "ü", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Quote(s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil || !Valid(got) {
			t.Fatalf("Quote(%q) = %s: %v", s, got, err)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("Quote(%q) = %s decodes to %q", s, got, back)
		}
	})
}

// BenchmarkQuote compares Quote with encoding/json on a 1 MiB plain text
// payload, both ways (the Go client's StringPayload and the decoding of an
// uploaded payload).
func BenchmarkQuote(b *testing.B) {
	s := strings.Repeat("x", 1<<20)
	q := Quote(s)
	for _, bc := range []struct {
		name string
		f    func()
	}{
		{"Quote", func() { _ = Quote(s) }},
		{"encoding/json.Marshal", func() { _, _ = json.Marshal(s) }},
		{"SkipString+slice", func() { _ = SkipString(q, 0) == len(q) && bytes.IndexByte(q, '\\') < 0 }},
		{"encoding/json.Unmarshal", func() { var out string; _ = json.Unmarshal(q, &out) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(s)))
			for b.Loop() {
				bc.f()
			}
		})
	}
}
