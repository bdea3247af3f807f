package jsonscan

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestValidJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	cases := []string{
		``, ` `, `{}`, `[]`, `""`, `"a`, `"\u12"`, `"\u12g4"`, `"\x"`, "\"a\x01\"", `"\/\b\f\n\r\t\"\\"`,
		`0`, `-0`, `01`, `-`, `1.`, `1.5`, `1e`, `1e+`, `1E-7`, `.5`, `+1`, `true`, `tru`, `nul`, `null `,
		`{"a":1,}`, `{"a" 1}`, `{"a":1 "b":2}`, `{1:2}`, `[1,]`, `[,1]`, `[1 2]`, `{"a":[{"b":null}]}`,
		`{"a":1}{}`, `{"a":1} `, ` {"index":0,"task":"t","payload":"x"}`, "\ufeff{}", `{"a":"\ud800"}`,
		strings.Repeat("[", 10001) + strings.Repeat("]", 10001), strings.Repeat("[", 100) + strings.Repeat("]", 100),
	}
	for _, c := range cases {
		if got, want := Valid([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("Valid(%.60q) = %v, encoding/json says %v", c, got, want)
		}
	}
}

func FuzzValidJSON(f *testing.F) {
	for _, s := range []string{`{"index":0,"task":"t","payload":{"a":[1,2.5e3,"x\n"]}}`, `[1,"\u0041",true,null]`, `"\ud83d\ude00"`, `-12.5E+3`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := Valid(data), json.Valid(data); got != want {
			t.Fatalf("Valid(%q) = %v, encoding/json says %v", data, got, want)
		}
	})
}

func BenchmarkValidJSON(b *testing.B) {
	line := []byte(`{"index":1,"task":"t","payload":"` + strings.Repeat("abcdefgh", 128<<10) + `"}`)
	b.Run("Valid", func(b *testing.B) {
		b.SetBytes(int64(len(line)))
		for b.Loop() {
			Valid(line)
		}
	})
	b.Run("encoding/json.Valid", func(b *testing.B) {
		b.SetBytes(int64(len(line)))
		for b.Loop() {
			json.Valid(line)
		}
	})
}
