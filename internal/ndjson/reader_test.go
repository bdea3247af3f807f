package ndjson

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

// rec is a Record with its aliased slices copied, for comparison.
type rec struct {
	Line      int
	Seq       int
	Data      string
	Oversized bool
	Size      int64
	Head      string
}

func (r rec) String() string {
	d, h := r.Data, r.Head
	if len(d) > 40 {
		d = d[:40] + "…"
	}
	if len(h) > 40 {
		h = h[:40] + "…"
	}
	return fmt.Sprintf("{Line:%d Seq:%d Data:%q Oversized:%v Size:%d Head(%d):%q}",
		r.Line, r.Seq, d, r.Oversized, r.Size, len(r.Head), h)
}

// collect reads r until an error and returns copies of the records and the
// error. It checks the per-record shape rules on the way.
func collect(t *testing.T, r *Reader) ([]rec, error) {
	t.Helper()
	var out []rec
	for {
		x, err := r.Next()
		if err != nil {
			if x.Data != nil || x.Head != nil || x.Oversized {
				t.Errorf("non-zero record %+v returned with error %v", x, err)
			}
			return out, err
		}
		if x.Oversized && x.Data != nil {
			t.Errorf("oversized record has non-nil Data")
		}
		if !x.Oversized && x.Head != nil {
			t.Errorf("normal record has non-nil Head")
		}
		out = append(out, rec{x.Line, x.Seq, string(x.Data), x.Oversized, x.Size, string(x.Head)})
		if len(out) > 1<<20 {
			t.Fatal("runaway reader")
		}
	}
}

// chunkReader returns data in reads whose sizes cycle through sizes; a size
// of 0 returns (0, nil). With eofWithData the last read returns (n, io.EOF).
type chunkReader struct {
	data        []byte
	sizes       []int
	i           int
	eofWithData bool
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := c.sizes[c.i%len(c.sizes)]
	c.i++
	n = min(n, len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	if c.eofWithData && len(c.data) == 0 {
		return n, io.EOF
	}
	return n, nil
}

// errAfterReader returns data, then err.
type errAfterReader struct {
	data []byte
	err  error
}

func (e *errAfterReader) Read(p []byte) (int, error) {
	if len(e.data) == 0 {
		return 0, e.err
	}
	n := copy(p, e.data)
	e.data = e.data[n:]
	return n, nil
}

// readerVariants returns the ways each table case is fed to the Reader.
func readerVariants() []struct {
	name string
	make func([]byte) io.Reader
} {
	return []struct {
		name string
		make func([]byte) io.Reader
	}{
		{"whole", func(b []byte) io.Reader { return bytes.NewReader(b) }},
		{"onebyte", func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }},
		{"half", func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) }},
		{"dataerr", func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) }},
		{"chunks-3-7-1", func(b []byte) io.Reader { return &chunkReader{data: b, sizes: []int{3, 7, 1}} }},
		{"chunks-with-empty-reads", func(b []byte) io.Reader {
			return &chunkReader{data: b, sizes: []int{0, 5, 0, 0, 64, 2}, eofWithData: true}
		}},
	}
}

// bufSizes are the initial buffer sizes each case runs with: the real one,
// and tiny ones that force growth and compaction.
var bufSizes = []int{initialBufSize, 1, 5, 16}

type readerCase struct {
	name     string
	in       string
	maxLine  int
	want     []rec
	wantErr  error // nil means io.EOF after want
	lines    int   // Lines() at the end (checked when wantErr is nil)
	skipBufs bool  // run with the default buffer only
}

func normal(line, seq int, data string, size int) rec {
	return rec{Line: line, Seq: seq, Data: data, Size: int64(size)}
}

func marker(line, seq int, raw string) rec {
	return rec{Line: line, Seq: seq, Oversized: true, Size: int64(len(raw)), Head: raw[:min(512, len(raw))]}
}

func runCase(t *testing.T, tc readerCase) {
	t.Helper()
	bufs := bufSizes
	if tc.skipBufs {
		bufs = bufs[:1]
	}
	for _, v := range readerVariants() {
		for _, bs := range bufs {
			r := newReaderSize(v.make([]byte(tc.in)), tc.maxLine, bs)
			got, err := collect(t, r)
			where := fmt.Sprintf("%s/%s/buf=%d", tc.name, v.name, bs)
			if len(got) != len(tc.want) {
				t.Errorf("%s: got %d records, want %d:\n got  %v\n want %v", where, len(got), len(tc.want), got, tc.want)
			} else {
				for i := range got {
					if got[i] != tc.want[i] {
						t.Errorf("%s: record %d:\n got  %v\n want %v", where, i, got[i], tc.want[i])
					}
				}
			}
			wantErr := tc.wantErr
			if wantErr == nil {
				wantErr = io.EOF
			}
			var se *SyntaxError
			if errors.As(wantErr, &se) {
				var gse *SyntaxError
				if !errors.As(err, &gse) || *gse != *se {
					t.Errorf("%s: err = %v, want %#v", where, err, se)
				}
			} else if !errors.Is(err, wantErr) {
				t.Errorf("%s: err = %v, want %v", where, err, wantErr)
			}
			// Sticky error.
			if _, err2 := r.Next(); err2 != err {
				t.Errorf("%s: second Next err = %v, want same %v", where, err2, err)
			}
			if tc.wantErr == nil {
				if r.Lines() != tc.lines {
					t.Errorf("%s: Lines() = %d, want %d", where, r.Lines(), tc.lines)
				}
				if r.Bytes() != int64(len(tc.in)) {
					t.Errorf("%s: Bytes() = %d, want %d", where, r.Bytes(), len(tc.in))
				}
			}
		}
	}
}

func TestReader(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 600)
	big := `{"index":4,"task":"big-task","payload":"` + strings.Repeat("a", 5000) + `"}`
	sixBytes := "日本" // 6 bytes, 2 characters
	cases := []readerCase{
		{
			name: "basic lines", maxLine: 100, lines: 3,
			in: "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n",
			want: []rec{
				normal(1, 0, `{"a":1}`, 7),
				normal(2, 1, `{"b":2}`, 7),
				normal(3, 2, `{"c":3}`, 7),
			},
		},
		{
			name: "no trailing newline", maxLine: 100, lines: 2,
			in:   "{\"a\":1}\n{\"b\":2}",
			want: []rec{normal(1, 0, `{"a":1}`, 7), normal(2, 1, `{"b":2}`, 7)},
		},
		{
			name: "escaped newline inside JSON string stays on one line", maxLine: 100, lines: 2,
			in: `{"s":"a\nb"}` + "\n" + `{"t":"x\n\ny","u":"\\n"}` + "\n",
			want: []rec{
				normal(1, 0, `{"s":"a\nb"}`, 12),
				normal(2, 1, `{"t":"x\n\ny","u":"\\n"}`, 24),
			},
		},
		{
			name: "blank lines skipped but counted", maxLine: 100, lines: 7,
			in: "\n{\"a\":1}\n\n   \n{\"b\":2}\n\t\n  ",
			want: []rec{
				normal(2, 0, `{"a":1}`, 7),
				normal(5, 1, `{"b":2}`, 7),
			},
		},
		{
			name: "multi-byte UTF-8 split across reads", maxLine: 100, lines: 3,
			in: "{\"e\":\"😀🎉\"}\n{\"j\":\"日本語のテキスト\"}\n{\"m\":\"é—ü\"}",
			want: []rec{
				normal(1, 0, `{"e":"😀🎉"}`, 16),
				normal(2, 1, `{"j":"日本語のテキスト"}`, 32),
				normal(3, 2, `{"m":"é—ü"}`, 15),
			},
		},
		{
			name: "oversized complete line", maxLine: 20, lines: 2,
			in: long + "\n{\"ok\":1}\n",
			want: []rec{
				marker(1, 0, long),
				normal(2, 1, `{"ok":1}`, 8),
			},
		},
		{
			name: "oversized data without any newline", maxLine: 100, lines: 1,
			in:   strings.Repeat("z", 1000),
			want: []rec{marker(1, 0, strings.Repeat("z", 1000))},
		},
		{
			name: "remainder of oversized line skipped, next lines intact", maxLine: 10, lines: 4,
			in: big + "\n{\"ok\":1}\n\n{\"ok\":2}\n",
			want: []rec{
				marker(1, 0, big),
				normal(2, 1, `{"ok":1}`, 8),
				normal(4, 2, `{"ok":2}`, 8),
			},
		},
		{
			name: "marker Seq is its emit position", maxLine: 10, lines: 4,
			in: "{\"i\":0}\n\n" + long + "\n{\"i\":2}",
			want: []rec{
				normal(1, 0, `{"i":0}`, 7),
				marker(3, 1, long),
				normal(4, 2, `{"i":2}`, 7),
			},
		},
		{
			name: "size counted in bytes: maxLine bytes of multi-byte chars allowed", maxLine: 6, lines: 1,
			in:   sixBytes + "\n",
			want: []rec{normal(1, 0, sixBytes, 6)},
		},
		{
			name: "size counted in bytes: one more byte is oversized", maxLine: 6, lines: 2,
			in:   sixBytes + "a\n" + sixBytes,
			want: []rec{marker(1, 0, sixBytes+"a"), normal(2, 1, sixBytes, 6)},
		},
		{
			name: "final line emitted at EOF", maxLine: 100, lines: 2,
			in:   "\n{\"last\":true}",
			want: []rec{normal(2, 0, `{"last":true}`, 13)},
		},
		{
			name: "invalid UTF-8 rejected with line number", maxLine: 100,
			in:      "{\"a\":1}\n\n{\"b\":\"\xff\"}\n{\"c\":3}\n",
			want:    []rec{normal(1, 0, `{"a":1}`, 7)},
			wantErr: &SyntaxError{Line: 3, Msg: "Invalid UTF-8 at line 3"},
		},
		{
			name: "truncated multi-byte char in final line", maxLine: 100,
			in:      "{\"a\":1}\n{\"b\":\"\xe6\x97",
			want:    []rec{normal(1, 0, `{"a":1}`, 7)},
			wantErr: &SyntaxError{Line: 2, Msg: "Invalid UTF-8 at line 2"},
		},
		{
			name: "invalid UTF-8 in oversized line is not checked", maxLine: 4, lines: 2,
			in:   "\xff\xfe\xfd\xfc\xfb\n{}",
			want: []rec{marker(1, 0, "\xff\xfe\xfd\xfc\xfb"), normal(2, 1, "{}", 2)},
		},
		{
			name: "empty stream", maxLine: 100, lines: 0,
			in: "",
		},
		{
			name: "only whitespace yields nothing", maxLine: 100, lines: 5,
			in: "  \n\t\n\r\n\n   ",
		},
		{
			name: "CRLF line endings trimmed", maxLine: 100, lines: 3,
			in: "{\"a\":1}\r\n\r\n{\"b\":2}\r\n",
			want: []rec{
				normal(1, 0, `{"a":1}`, 8),
				normal(3, 1, `{"b":2}`, 8),
			},
		},
		{
			name: "CR counts toward the raw size", maxLine: 7, lines: 2,
			in:   "{\"a\":1}\r\n{\"b\":2}\n",
			want: []rec{marker(1, 0, "{\"a\":1}\r"), normal(2, 1, `{"b":2}`, 7)},
		},
		{
			name: "line of exactly maxLine bytes is not oversized", maxLine: 7, lines: 3,
			in: "{\"a\":1}\n{\"bb\":2}\n{\"c\":3}",
			want: []rec{
				normal(1, 0, `{"a":1}`, 7),
				marker(2, 1, `{"bb":2}`),
				normal(3, 2, `{"c":3}`, 7),
			},
		},
		{
			name: "surrounding spaces trimmed but counted in size", maxLine: 12, lines: 1,
			in:   "  {\"a\":1} \t\n",
			want: []rec{normal(1, 0, `{"a":1}`, 11)},
		},
		{
			name: "mixed normal and oversized lines", maxLine: 16, lines: 8,
			in: "{\"i\":0}\n" + long + "\n{\"i\":2}\n\n" + big + "\n" + long + "\n{\"i\":5}\n" + long,
			want: []rec{
				normal(1, 0, `{"i":0}`, 7),
				marker(2, 1, long),
				normal(3, 2, `{"i":2}`, 7),
				marker(5, 3, big),
				marker(6, 4, long),
				normal(7, 5, `{"i":5}`, 7),
				marker(8, 6, long),
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runCase(t, tc)
		})
	}
}

func TestReaderManyLines(t *testing.T) {
	t.Parallel()
	var in strings.Builder
	var want []rec
	for i := range 3000 {
		line := fmt.Sprintf(`{"index":%d,"task":"t","pad":%q}`, i, strings.Repeat("p", i%97))
		in.WriteString(line)
		in.WriteByte('\n')
		want = append(want, normal(i+1, i, line, len(line)))
	}
	// Many lines per read (whole input in one buffer-sized read) and many
	// tiny reads (one byte, small chunks) are both covered by the variants.
	runCase(t, readerCase{name: "many lines", in: in.String(), maxLine: 200, want: want, lines: 3000, skipBufs: true})
}

// TestReaderLongLinesGrowBuffer uses lines larger than the initial buffer so
// the buffer has to grow (up to maxLine+1) and be compacted.
func TestReaderLongLinesGrowBuffer(t *testing.T) {
	t.Parallel()
	const maxLine = 300 << 10
	mk := func(n int, c byte) string { return `"` + strings.Repeat(string(c), n-2) + `"` }
	l1, l2, l3, l4 := mk(100<<10, 'a'), mk(200<<10, 'b'), mk(maxLine, 'c'), mk(maxLine+1, 'd')
	in := "{}\n" + l1 + "\n" + l2 + "\n" + l3 + "\n" + l4 + "\n" + l1
	want := []rec{
		normal(1, 0, "{}", 2),
		normal(2, 1, l1, len(l1)),
		normal(3, 2, l2, len(l2)),
		normal(4, 3, l3, len(l3)),
		marker(5, 4, l4),
		normal(6, 5, l1, len(l1)),
	}
	for _, sizes := range [][]int{{1 << 20}, {4096}, {1000, 70000, 3}, {65536}} {
		r := NewReader(&chunkReader{data: []byte(in), sizes: sizes}, maxLine)
		got, err := collect(t, r)
		if err != io.EOF {
			t.Fatalf("sizes %v: err = %v", sizes, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || len(got) != len(want) {
			t.Fatalf("sizes %v:\n got  %v\n want %v", sizes, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("sizes %v: record %d differs", sizes, i)
			}
		}
		if c := cap(r.buf); c > maxLine+1 {
			t.Errorf("sizes %v: buffer grew to %d, want <= %d", sizes, c, maxLine+1)
		}
	}
}

func TestReaderReadErrorMidStream(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset")
	tests := []struct {
		name string
		in   string
		max  int
		want []rec
	}{
		{"after complete lines, partial line dropped", "{\"a\":1}\n\n{\"b\":2}\n{\"c\"", 100,
			[]rec{normal(1, 0, `{"a":1}`, 7), normal(3, 1, `{"b":2}`, 7)}},
		{"while skipping an oversized line", "{\"a\":1}\n" + strings.Repeat("x", 5000), 100,
			[]rec{normal(1, 0, `{"a":1}`, 7)}},
		{"at a line boundary", "{\"a\":1}\n", 100,
			[]rec{normal(1, 0, `{"a":1}`, 7)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, bs := range bufSizes {
				r := newReaderSize(&errAfterReader{data: []byte(tc.in), err: boom}, tc.max, bs)
				got, err := collect(t, r)
				if !errors.Is(err, boom) {
					t.Fatalf("buf=%d: err = %v, want %v", bs, err, boom)
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Fatalf("buf=%d:\n got  %v\n want %v", bs, got, tc.want)
				}
				for range 3 {
					if _, err := r.Next(); err != boom {
						t.Fatalf("buf=%d: later Next err = %v, want sticky %v", bs, err, boom)
					}
				}
			}
		})
	}
}

type zeroReader struct{ calls int }

func (z *zeroReader) Read([]byte) (int, error) { z.calls++; return 0, nil }

type badCountReader struct{}

func (badCountReader) Read(p []byte) (int, error) { return len(p) + 1, nil }

func TestReaderMisbehavingReaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		r    io.Reader
		want error
	}{
		{"always (0, nil)", &zeroReader{}, io.ErrNoProgress},
		{"count larger than buffer", badCountReader{}, errInvalidRead},
		{"error on first read", iotest.ErrReader(io.ErrUnexpectedEOF), io.ErrUnexpectedEOF},
		{"timeout reader", iotest.TimeoutReader(strings.NewReader("{\"a\":1}")), iotest.ErrTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := NewReader(tc.r, 100)
			_, err := collect(t, r)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if _, err2 := r.Next(); err2 != err {
				t.Fatalf("not sticky: %v then %v", err, err2)
			}
		})
	}
}

// TestReaderDataAliasesBuffer is not parallel: AllocsPerRun forbids it.
func TestReaderDataAliasesBuffer(t *testing.T) {
	in := strings.Repeat("{\"index\":12345,\"task\":\"abc\"}\n", 1000)
	allocs := testing.AllocsPerRun(3, func() {
		r := NewReader(strings.NewReader(in), 1024)
		for {
			x, err := r.Next()
			if err != nil {
				return
			}
			if x.Data[len(x.Data)-1] != '}' {
				panic("bad record")
			}
		}
	})
	// The strings.Reader, the Reader and its buffer; nothing per line.
	if allocs > 3 {
		t.Errorf("reading 1000 normal lines allocated %v times, want <= 3", allocs)
	}
}

func TestSyntaxErrorMessage(t *testing.T) {
	t.Parallel()
	_, err := collect(t, NewReader(strings.NewReader("\n\n\n\n\n\n\xc0\n"), 10))
	var se *SyntaxError
	if !errors.As(err, &se) || se.Line != 7 || err.Error() != "Invalid UTF-8 at line 7" {
		t.Fatalf("err = %#v", err)
	}
}

func TestNewReaderRejectsNonPositiveMax(t *testing.T) {
	t.Parallel()
	for _, m := range []int{0, -1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewReader(_, %d) did not panic", m)
				}
			}()
			NewReader(strings.NewReader(""), m)
		}()
	}
}

// genReader generates prefix followed by filler bytes up to n bytes in
// total, then suffix, without holding the stream in memory.
type genReader struct {
	prefix, suffix string
	n, off         int64
	filler         byte
}

func (g *genReader) Read(p []byte) (int, error) {
	total := g.n + int64(len(g.suffix))
	if g.off >= total {
		return 0, io.EOF
	}
	w := 0
	for w < len(p) && g.off < total {
		switch {
		case g.off < int64(len(g.prefix)):
			c := copy(p[w:], g.prefix[g.off:])
			w += c
			g.off += int64(c)
		case g.off < g.n:
			c := int(min(int64(len(p)-w), g.n-g.off))
			fill := p[w : w+c]
			for i := range fill {
				fill[i] = g.filler
			}
			w += c
			g.off += int64(c)
		default:
			c := copy(p[w:], g.suffix[g.off-g.n:])
			w += c
			g.off += int64(c)
		}
	}
	return w, nil
}

// TestReaderBoundedMemory feeds a 64 MiB line from a generating reader and
// checks that the Reader's allocations stay far below the line size. It is
// deliberately not parallel so that the heap statistics are its own.
func TestReaderBoundedMemory(t *testing.T) {
	const (
		lineLen = 64 << 20
		maxLine = 1 << 20
		budget  = 8 << 20
	)
	for _, suffix := range []string{"", "\n{\"after\":true}\n"} {
		g := &genReader{prefix: `{"task":"huge","index":42,"payload":"`, n: lineLen, filler: 'q', suffix: suffix}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)

		r := NewReader(g, maxLine)
		first, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		var rest []rec
		for {
			x, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			rest = append(rest, rec{Line: x.Line, Seq: x.Seq, Data: string(x.Data)})
		}
		runtime.ReadMemStats(&after)

		delta := after.TotalAlloc - before.TotalAlloc
		t.Logf("suffix %q: %d bytes allocated reading a %d-byte line", suffix, delta, lineLen)
		if delta > budget {
			t.Errorf("suffix %q: allocated %d bytes for a %d-byte line, want < %d", suffix, delta, lineLen, budget)
		}
		if !first.Oversized || first.Size != lineLen || first.Line != 1 || first.Seq != 0 || len(first.Head) != 512 {
			t.Errorf("suffix %q: marker = {Oversized:%v Size:%d Line:%d Seq:%d len(Head):%d}",
				suffix, first.Oversized, first.Size, first.Line, first.Seq, len(first.Head))
		}
		if idx, iok, task, tok := Sniff(first.Head); !iok || idx != 42 || !tok || task != "huge" {
			t.Errorf("Sniff(head) = %d %v %q %v", idx, iok, task, tok)
		}
		if suffix != "" {
			want := []rec{{Line: 2, Seq: 1, Data: `{"after":true}`}}
			if fmt.Sprint(rest) != fmt.Sprint(want) {
				t.Errorf("after marker got %v, want %v", rest, want)
			}
		}
		if r.Bytes() != lineLen+int64(len(suffix)) {
			t.Errorf("Bytes() = %d, want %d", r.Bytes(), lineLen+int64(len(suffix)))
		}
		if c := cap(r.buf); c > maxLine+1 {
			t.Errorf("buffer grew to %d, want <= maxLine+1", c)
		}
	}
}

func BenchmarkReader(b *testing.B) {
	build := func(lineLen, total int) []byte {
		var buf bytes.Buffer
		for i := 0; buf.Len() < total; i++ {
			pre := fmt.Sprintf(`{"index":%d,"task":"bench","payload":"`, i)
			buf.WriteString(pre)
			buf.WriteString(strings.Repeat("x", lineLen-len(pre)-2))
			buf.WriteString("\"}\n")
		}
		return buf.Bytes()
	}
	benches := []struct {
		name    string
		data    []byte
		maxLine int
	}{
		{"256B-lines", build(256, 8<<20), 1 << 20},
		{"1MiB-lines", build(1<<20, 32<<20), 2 << 20},
		{"1MiB-lines-oversized", build(1<<20, 32<<20), 64 << 10},
	}
	for _, bc := range benches {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.data)))
			b.ReportAllocs()
			for b.Loop() {
				r := NewReader(bytes.NewReader(bc.data), bc.maxLine)
				for {
					if _, err := r.Next(); err != nil {
						if err != io.EOF {
							b.Fatal(err)
						}
						break
					}
				}
			}
		})
	}
}
