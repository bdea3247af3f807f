package ndjson

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strconv"
	"unicode/utf8"
)

// headSize is the number of leading raw bytes of an oversized line kept in
// Record.Head, and the window Sniff scans.
const headSize = 512

const (
	// initialBufSize is the starting size of the line buffer (one read block).
	initialBufSize = 64 << 10
	// maxEmptyReads bounds consecutive (0, nil) reads before giving up with
	// io.ErrNoProgress, as bufio does.
	maxEmptyReads = 100
)

// errInvalidRead reports an io.Reader that returned a count outside [0, len(p)].
var errInvalidRead = errors.New("ndjson: reader returned invalid count from Read")

// Record is one non-blank line (or an oversized-line marker) of the stream.
type Record struct {
	// Line is the 1-based physical line number where the line starts;
	// blank lines count as lines.
	Line int
	// Seq is the 0-based emit position: the number of records (oversized
	// markers included) returned before this one. Blank lines do not count.
	Seq int
	// Data is the line with leading and trailing whitespace trimmed
	// (bytes.TrimSpace), so CRLF input works; nil for an oversized marker.
	// It aliases the Reader's buffer and is valid only until the next call
	// to Next.
	Data []byte
	// Oversized is true when the line's raw length exceeded the limit.
	Oversized bool
	// Size is the byte length of the raw line, without its LF. For an
	// oversized line it is the exact total length, although the line was
	// never held in memory.
	Size int64
	// Head holds, for an oversized line only, its first min(512, Size)
	// raw bytes, for Sniff. It is valid only until the next call to Next.
	Head []byte
}

// SyntaxError reports a line that is not acceptable NDJSON text
// (currently: invalid UTF-8). Error returns Msg.
type SyntaxError struct {
	// Line is the 1-based physical line number of the offending line.
	Line int
	// Msg describes the problem, e.g. "Invalid UTF-8 at line 7".
	Msg string
}

// Error returns e.Msg.
func (e *SyntaxError) Error() string { return e.Msg }

// Reader reads Records from an NDJSON stream. Its memory use is bounded by
// the line limit plus one read block, whatever the size of the stream.
// A Reader is not safe for concurrent use.
type Reader struct {
	rd      io.Reader
	maxLine int
	limit   int // largest buffer size ever needed: maxLine+1

	buf     []byte
	start   int // buf[start:end] holds unconsumed bytes
	end     int
	scanned int // buf[start:start+scanned] is known to hold no LF

	rerr error // error from the last Read, not yet acted upon
	err  error // sticky error returned by Next

	lines int   // physical lines consumed
	bytes int64 // raw bytes consumed (LFs included)
	seq   int   // records emitted

	head [headSize]byte
}

// NewReader returns a Reader that reads from r and treats any line longer
// than maxLine raw bytes (excluding its LF) as oversized; a line of exactly
// maxLine bytes is allowed. maxLine must be > 0; NewReader panics otherwise.
func NewReader(r io.Reader, maxLine int) *Reader {
	return newReaderSize(r, maxLine, initialBufSize)
}

// newReaderSize is NewReader with an explicit initial buffer size, so tests
// can exercise buffer growth and compaction with small inputs.
func newReaderSize(r io.Reader, maxLine, bufSize int) *Reader {
	if maxLine <= 0 {
		panic("ndjson: NewReader maxLine must be > 0, got " + strconv.Itoa(maxLine))
	}
	if bufSize <= 0 {
		bufSize = initialBufSize
	}
	limit := maxLine
	if limit < math.MaxInt {
		limit++
	}
	return &Reader{rd: r, maxLine: maxLine, limit: limit, buf: make([]byte, bufSize)}
}

// Lines returns the number of physical lines consumed so far, blank and
// oversized lines included. At the end of the stream it is the number of
// lines in it (a final line without LF counts).
func (r *Reader) Lines() int { return r.lines }

// Bytes returns the number of raw bytes consumed so far: the bytes of every
// line returned or skipped, with their LFs. At the end of the stream it is
// the length of the stream.
func (r *Reader) Bytes() int64 { return r.bytes }

// Next returns the next record. It returns io.EOF at the clean end of the
// stream, a *SyntaxError for a line that is not valid UTF-8, and any other
// error from the underlying reader as is (records completed before the
// error are returned first; a partial line is dropped). Once Next has
// returned an error, every later call returns the same error.
func (r *Reader) Next() (Record, error) {
	if r.err != nil {
		return Record{}, r.err
	}
	for {
		// A complete line in the buffer?
		if i := bytes.IndexByte(r.buf[r.start+r.scanned:r.end], '\n'); i >= 0 {
			lineEnd := r.start + r.scanned + i
			line := r.buf[r.start:lineEnd]
			r.start = lineEnd + 1
			r.scanned = 0
			r.lines++
			r.bytes += int64(len(line)) + 1
			if len(line) > r.maxLine {
				n := copy(r.head[:], line)
				return r.marker(r.lines, int64(len(line)), n), nil
			}
			if rec, ok, err := r.record(r.lines, line); err != nil || ok {
				return rec, err
			}
			continue
		}
		r.scanned = r.end - r.start

		// The incomplete line is already too long: discard the rest of it.
		if r.scanned > r.maxLine {
			return r.skipOversized()
		}

		if r.rerr != nil {
			if r.rerr != io.EOF {
				return r.fail(r.rerr)
			}
			// End of stream: the unterminated tail (at most maxLine bytes)
			// is the final line.
			if r.end > r.start {
				line := r.buf[r.start:r.end]
				r.start, r.scanned = r.end, 0
				r.lines++
				r.bytes += int64(len(line))
				if rec, ok, err := r.record(r.lines, line); err != nil || ok {
					return rec, err
				}
			}
			return r.fail(io.EOF)
		}
		r.fill()
	}
}

// record validates and trims a line of at most maxLine bytes. ok is false
// for a blank line.
func (r *Reader) record(lineNo int, line []byte) (rec Record, ok bool, err error) {
	if !utf8.Valid(line) {
		_, err = r.fail(&SyntaxError{Line: lineNo, Msg: "Invalid UTF-8 at line " + strconv.Itoa(lineNo)})
		return Record{}, false, err
	}
	data := bytes.TrimSpace(line)
	if len(data) == 0 {
		return Record{}, false, nil
	}
	rec = Record{Line: lineNo, Seq: r.seq, Data: data, Size: int64(len(line))}
	r.seq++
	return rec, true, nil
}

// marker builds the oversized record for a line whose first headLen bytes
// are in r.head.
func (r *Reader) marker(lineNo int, size int64, headLen int) Record {
	rec := Record{Line: lineNo, Seq: r.seq, Oversized: true, Size: size, Head: r.head[:headLen]}
	r.seq++
	return rec
}

// skipOversized is called when the buffered incomplete line exceeds maxLine.
// It keeps the line's head, then reads and discards up to and including the
// next LF (or to EOF), counting the bytes, and returns the marker.
func (r *Reader) skipOversized() (Record, error) {
	lineNo := r.lines + 1
	part := r.buf[r.start:r.end]
	hn := copy(r.head[:], part)
	size := int64(len(part))
	r.bytes += size
	r.start, r.end, r.scanned = 0, 0, 0
	for {
		if r.rerr != nil {
			if r.rerr != io.EOF {
				return r.fail(r.rerr)
			}
			r.lines++
			return r.marker(lineNo, size, hn), nil
		}
		r.fill() // the buffer is empty: reads into all of it
		chunk := r.buf[:r.end]
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			hn += copy(r.head[hn:], chunk[:i])
			size += int64(i)
			r.bytes += int64(i) + 1
			r.start = i + 1
			r.lines++
			return r.marker(lineNo, size, hn), nil
		}
		hn += copy(r.head[hn:], chunk)
		size += int64(len(chunk))
		r.bytes += int64(len(chunk))
		r.end = 0
	}
}

// fill makes room in the buffer and reads once into it, retrying (0, nil)
// reads. It is called only when buf[start:end] holds no LF and at most
// maxLine bytes. A read error is kept in r.rerr.
func (r *Reader) fill() {
	if r.start > 0 {
		switch {
		case r.start == r.end:
			r.start, r.end = 0, 0
		case len(r.buf)-r.end < len(r.buf)/2:
			// Compact: move the partial line to the front. Each line is
			// moved at most once, as start stays 0 until it completes.
			r.end = copy(r.buf, r.buf[r.start:r.end])
			r.start = 0
		}
	}
	if r.end == len(r.buf) {
		// Full with one partial line (start == 0 after compaction) of at
		// most maxLine bytes, so len(buf) < limit: double, up to limit.
		// Go straight to limit when doubling would fall just short of it
		// (e.g. 1 MiB for a 1 MiB limit, which needs 1 MiB + 1).
		n := len(r.buf) * 2
		if n <= 0 || n > r.limit || r.limit-n < len(r.buf)/2 {
			n = r.limit
		}
		nb := make([]byte, n)
		copy(nb, r.buf[r.start:r.end])
		r.end -= r.start
		r.start = 0
		r.buf = nb
	}
	for empty := 0; ; empty++ {
		p := r.buf[r.end:]
		n, err := r.rd.Read(p)
		if n < 0 || n > len(p) {
			r.rerr = errInvalidRead
			return
		}
		r.end += n
		if err != nil {
			r.rerr = err
			return
		}
		if n > 0 {
			return
		}
		if empty >= maxEmptyReads {
			r.rerr = io.ErrNoProgress
			return
		}
	}
}

// fail records err as the sticky error and returns it.
func (r *Reader) fail(err error) (Record, error) {
	r.err = err
	return Record{}, err
}
