package ndjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"testing"
	"unicode/utf8"
)

// referenceSplit is the obvious whole-input implementation of the rules:
// split on LF, drop the empty piece after a final LF, and apply the limit,
// UTF-8 check and trimming line by line. errLine is the line of the first
// invalid UTF-8 line, or 0.
func referenceSplit(data []byte, maxLine int) (recs []rec, lines, errLine int) {
	segs := bytes.Split(data, []byte("\n"))
	if len(segs[len(segs)-1]) == 0 {
		segs = segs[:len(segs)-1]
	}
	for i, s := range segs {
		line := i + 1
		switch {
		case len(s) > maxLine:
			recs = append(recs, rec{Line: line, Seq: len(recs), Oversized: true, Size: int64(len(s)), Head: string(s[:min(512, len(s))])})
		case !utf8.Valid(s):
			return recs, line, line
		default:
			if d := bytes.TrimSpace(s); len(d) > 0 {
				recs = append(recs, rec{Line: line, Seq: len(recs), Data: string(d), Size: int64(len(s))})
			}
		}
	}
	return recs, len(segs), 0
}

var fuzzBufSizes = []int{initialBufSize, 1, 2, 3, 7, 16, 64, 100}

func FuzzReader(f *testing.F) {
	f.Add([]byte("{\"a\":1}\n{\"b\":2}\n"), []byte{1}, uint8(63), uint8(0), false)
	f.Add([]byte("\n\n  \r\n{\"x\":\"日本\"}\r\n"), []byte{1, 2, 3}, uint8(7), uint8(1), true)
	f.Add([]byte("{\"index\":3,\"task\":\"t\",\"p\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}\nok\n"), []byte{0, 5}, uint8(9), uint8(2), false)
	f.Add([]byte("\xff\n{}"), []byte{}, uint8(63), uint8(3), true)
	f.Add([]byte("😀😀😀😀\n😀😀😀😀😀"), []byte{3}, uint8(15), uint8(4), false)
	f.Fuzz(func(t *testing.T, data []byte, sizes []byte, maxSeed, bufSeed uint8, eofWithData bool) {
		maxLine := 1 + int(maxSeed)%128
		bufSize := fuzzBufSizes[int(bufSeed)%len(fuzzBufSizes)]
		// Read sizes 0..69 as chosen by the fuzzer; 0 is a (0, nil) read,
		// but never twice in a row so the stream always makes progress.
		chunks := make([]int, 0, len(sizes)+1)
		for i, s := range sizes {
			n := int(s) % 70
			if n == 0 && i > 0 && chunks[i-1] == 0 {
				n = 1
			}
			chunks = append(chunks, n)
		}
		if len(chunks) == 0 || (len(chunks) == 1 && chunks[0] == 0) {
			chunks = append(chunks, len(data)+1)
		}

		r := newReaderSize(&chunkReader{data: data, sizes: chunks, eofWithData: eofWithData}, maxLine, bufSize)
		var got []rec
		var err error
		for {
			var x Record
			x, err = r.Next()
			if err != nil {
				break
			}
			if x.Seq != len(got) {
				t.Fatalf("Seq = %d, want %d", x.Seq, len(got))
			}
			if len(got) > 0 && x.Line <= got[len(got)-1].Line {
				t.Fatalf("Line %d does not increase (previous %d)", x.Line, got[len(got)-1].Line)
			}
			if x.Oversized {
				if x.Data != nil || x.Size <= int64(maxLine) || int64(len(x.Head)) != min(512, x.Size) {
					t.Fatalf("bad marker: Data=%q Size=%d len(Head)=%d maxLine=%d", x.Data, x.Size, len(x.Head), maxLine)
				}
			} else {
				d := x.Data
				if len(d) == 0 || len(d) > maxLine || !utf8.Valid(d) || bytes.IndexByte(d, '\n') >= 0 ||
					!bytes.Equal(bytes.TrimSpace(d), d) || x.Head != nil || x.Size > int64(maxLine) {
					t.Fatalf("bad record: Data=%q Size=%d Head=%q maxLine=%d", d, x.Size, x.Head, maxLine)
				}
			}
			got = append(got, rec{x.Line, x.Seq, string(x.Data), x.Oversized, x.Size, string(x.Head)})
		}
		if _, err2 := r.Next(); err2 != err {
			t.Fatalf("error not sticky: %v then %v", err, err2)
		}

		want, lines, errLine := referenceSplit(data, maxLine)
		if len(got) != len(want) {
			t.Fatalf("got %d records, want %d\n got  %v\n want %v", len(got), len(want), got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("record %d:\n got  %v\n want %v", i, got[i], want[i])
			}
		}
		if errLine == 0 {
			if err != io.EOF {
				t.Fatalf("err = %v, want io.EOF", err)
			}
			if r.Lines() != lines || r.Bytes() != int64(len(data)) {
				t.Fatalf("Lines() = %d, Bytes() = %d; want %d, %d", r.Lines(), r.Bytes(), lines, len(data))
			}
		} else {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Line != errLine || se.Msg != "Invalid UTF-8 at line "+strconv.Itoa(errLine) {
				t.Fatalf("err = %v, want SyntaxError at line %d", err, errLine)
			}
		}
	})
}

func FuzzSniff(f *testing.F) {
	f.Add([]byte(`{"index":5,"task":"t"}`))
	f.Add([]byte(`{"options":{"index":9},"index":3,"task":"a\"b\u00e9"}`))
	f.Add([]byte(`{"payload":"\"index\":1","index":-2,"task":7}`))
	f.Add([]byte(`{"index":1e2,"task":"\ud83d\ude00"}`))
	f.Add([]byte(`{"\u0069ndex":00,"task":"x\ud800"}`))
	f.Fuzz(func(t *testing.T, head []byte) {
		index, indexOK, task, taskOK := Sniff(head)
		if indexOK && index < 0 {
			t.Fatalf("indexOK with index %d", index)
		}
		if !indexOK && index != 0 || !taskOK && task != "" {
			t.Fatalf("values without ok: (%d, %v, %q, %v)", index, indexOK, task, taskOK)
		}
		if taskOK && !utf8.ValidString(task) {
			t.Fatalf("task %q is not valid UTF-8", task)
		}
		// For a complete object within the window, agree with encoding/json.
		if len(head) > 512 || !json.Valid(head) || bytes.TrimSpace(head)[0] != '{' {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(head, &m); err != nil {
			t.Fatalf("json.Valid input does not decode: %v", err)
		}
		wantIndex, wantIndexOK := 0, false
		if raw, ok := m["index"]; ok {
			if n, err := strconv.Atoi(string(raw)); err == nil && raw[0] != '-' && raw[0] != '+' {
				wantIndex, wantIndexOK = n, true
			}
		}
		if index != wantIndex || indexOK != wantIndexOK {
			t.Fatalf("index = (%d, %v), encoding/json says (%d, %v)", index, indexOK, wantIndex, wantIndexOK)
		}
		wantTask, wantTaskOK := "", false
		if raw, ok := m["task"]; ok && raw[0] == '"' && utf8.Valid(raw) {
			if err := json.Unmarshal(raw, &wantTask); err != nil {
				t.Fatalf("task %s: %v", raw, err)
			}
			wantTaskOK = true
		}
		if task != wantTask || taskOK != wantTaskOK {
			t.Fatalf("task = (%q, %v), encoding/json says (%q, %v)", task, taskOK, wantTask, wantTaskOK)
		}
	})
}
