package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"
)

// Read routes stream: a page's items are encoded and written one by one as
// PostgreSQL sends their rows, never gathered into a slice, and a page ends
// at a byte budget (Options.ReadPageBytes) as well as at its row limit; the
// route's cursor then continues after the last item written.

// defaultReadPageBytes is a page's budget when Options.ReadPageBytes is 0.
const defaultReadPageBytes = 4 << 20

// pageBudget returns the byte budget of one page of a read route.
func (s *Server) pageBudget() int {
	if s.opts.ReadPageBytes > 0 {
		return s.opts.ReadPageBytes
	}
	return defaultReadPageBytes
}

// jsonArray writes the items of a JSON array to w as they come, and refuses
// the item that would take the array past budget bytes (the first item is
// always taken, whatever its size, so a page always moves on). The response
// starts with head only when the first item (or end) is written, so that a
// failure before that can still answer with an error status.
type jsonArray struct {
	w      io.Writer
	start  func() // called once, before the first byte
	head   []byte
	budget int
	size   int // bytes of the array's items and commas
	count  int
	enc    *json.Encoder
	buf    bytes.Buffer
	err    error // the first write error (the client left)
}

func newJSONArray(w io.Writer, start func(), head string, budget int) *jsonArray {
	a := &jsonArray{w: w, start: start, head: []byte(head), budget: budget}
	a.enc = json.NewEncoder(&a.buf)
	return a
}

// add encodes v and writes it, or reports false when it does not fit (or
// cannot be written) and writes nothing.
func (a *jsonArray) add(v any) bool {
	if a.err != nil {
		return false
	}
	a.buf.Reset()
	if a.count > 0 {
		a.buf.WriteByte(',')
	}
	if err := a.enc.Encode(v); err != nil {
		a.err = err
		return false
	}
	item := bytes.TrimSuffix(a.buf.Bytes(), []byte{'\n'})
	if a.count > 0 && a.size+len(item) > a.budget {
		return false
	}
	a.begin()
	a.write(item)
	a.size += len(item)
	a.count++
	return a.err == nil
}

// begin writes the head once.
func (a *jsonArray) begin() {
	if a.start != nil {
		a.start()
		a.start = nil
		a.write(a.head)
	}
}

func (a *jsonArray) write(p []byte) {
	if a.err == nil {
		_, a.err = a.w.Write(p)
	}
}

// end closes the array with tail (the rest of the object).
func (a *jsonArray) end(tail string) error {
	a.begin()
	a.write([]byte(tail))
	return a.err
}

// started reports whether the response has begun.
func (a *jsonArray) started() bool { return a.start == nil }

// streamJSON returns a jsonArray writing to c's response: status 200 and a
// JSON content type when it starts.
func streamJSON(c *gin.Context, head string, budget int) *jsonArray {
	return newJSONArray(c.Writer, func() {
		c.Header("Content-Type", "application/json; charset=utf-8")
		c.Status(http.StatusOK)
	}, head, budget)
}
