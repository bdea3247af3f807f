package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/streambatch/streambatch/batch"
	ingestwf "github.com/streambatch/streambatch/workflows/ingest"
)

// fakeObjects and fakeSignaler stand in for S3 and Temporal in these unit
// tests of the pipeline's logic; the e2e tests run it against the real ones.
type fakeObjects struct {
	mu      sync.Mutex
	objects map[string][]byte
	types   map[string]string
	// inFlight, maxIn, bytesIn and maxBytes count payload uploads (the
	// bounded ones): not staged chunks, which the chunk window bounds.
	inFlight int
	maxIn    int
	bytesIn  int64
	maxBytes int64
	hold     chan struct{} // when set, every Put waits for it to close
	fail     error
}

func newFakeObjects() *fakeObjects {
	return &fakeObjects{objects: map[string][]byte{}, types: map[string]string{}}
}

func (f *fakeObjects) Put(ctx context.Context, key, contentType string, body io.ReadSeeker, size int64) error {
	upload := !strings.HasPrefix(key, "staging/")
	f.mu.Lock()
	if upload {
		f.inFlight++
		f.bytesIn += size
		f.maxIn = max(f.maxIn, f.inFlight)
		f.maxBytes = max(f.maxBytes, f.bytesIn)
	}
	hold, fail := f.hold, f.fail
	f.mu.Unlock()
	if upload {
		defer func() { f.mu.Lock(); f.inFlight--; f.bytesIn -= size; f.mu.Unlock() }()
	}
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail != nil {
		return fail
	}
	data, _ := io.ReadAll(body)
	if int64(len(data)) != size {
		return fmt.Errorf("size %d, body %d", size, len(data))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objects[key], f.types[key] = data, contentType
	return nil
}

type fakeSignaler struct {
	mu     sync.Mutex
	chunks []batch.ChunkRef
	err    error
}

func (f *fakeSignaler) SignalChunk(ctx context.Context, in ingestwf.Input, ch batch.ChunkRef) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.chunks = append(f.chunks, ch)
	return nil
}

var testLimits = Limits{
	ItemMaxBytes: 1 << 20, OffloadThreshold: 64 << 10, ChunkItems: 100, ChunkBytes: 1 << 20,
	ChunkInlineBytes: 4 << 10, ChunksInFlight: 2, UploadsInFlight: 4, UploadBytesInFlight: 1 << 20,
}

type pipe struct {
	objs   *fakeObjects
	sig    *fakeSignaler
	signer *batch.ChunkSigner
	ing    *Ingester
}

var testSigner = func() *batch.ChunkSigner {
	s, err := batch.NewChunkSigner("test-secret-test-secret-test-secret")
	if err != nil {
		panic(err)
	}
	return s
}()

func newPipe(l Limits) *pipe {
	p := &pipe{objs: newFakeObjects(), sig: &fakeSignaler{}, signer: testSigner}
	p.ing = New(l, p.objs, p.sig, p.signer, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	return p
}

func (p *pipe) run(runCount int, body string, seen *batch.IndexSet) (Result, error) {
	if seen == nil {
		seen = batch.NewIndexSet(runCount)
	}
	in := ingestwf.Input{BatchID: "batch_aaaaaaaaaaaaaaaaaaaaaaaa", Env: "dev", RunCount: runCount}
	return p.ing.Ingest(context.Background(), Request{Batch: in, Body: strings.NewReader(body), Seen: seen})
}

// items returns the items of every signalled chunk, staged ones decoded.
func (p *pipe) items(t *testing.T) map[int]batch.Item {
	t.Helper()
	out := map[int]batch.Item{}
	for _, c := range p.sig.chunks {
		list := c.Items
		if c.Key != "" {
			var err error
			if list, err = batch.DecodeItems(p.objs.objects[c.Key]); err != nil {
				t.Fatal(err)
			}
		}
		if len(list) != c.Count() {
			t.Fatalf("chunk %d: %d items, ranges %v", c.Seq, len(list), c.Indexes)
		}
		for _, it := range list {
			if _, dup := out[it.Index]; dup {
				t.Fatalf("index %d in two chunks", it.Index)
			}
			out[it.Index] = it
		}
	}
	return out
}

func lines(n int, payload func(i int) string) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `{"index":%d,"task":"t","payload":%q}`+"\n", i, payload(i))
	}
	return b.String()
}

func TestChunksCoverEveryItemOnce(t *testing.T) {
	t.Parallel()
	p := newPipe(testLimits)
	res, err := p.run(250, lines(250, func(i int) string { return fmt.Sprintf("%020d", i) }), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 250 || res.Items != 250 || res.Chunks != 3 || res.Deduplicated != 0 {
		t.Fatalf("result %+v", res)
	}
	got := p.items(t)
	if len(got) != 250 || *got[249].Payload != fmt.Sprintf("%020d", 249) {
		t.Fatalf("%d items", len(got))
	}
	// Full chunks are staged whatever their size; the last one (50 items)
	// fits the 4 KiB inline budget and travels in its signal.
	inline := 0
	for _, c := range p.sig.chunks {
		inline += len(c.Items)
	}
	if res.Staged != 2 || len(p.objs.objects) != 2 || inline != 50 {
		t.Fatalf("staged %d, objects %d", res.Staged, len(p.objs.objects))
	}
}

// Every chunk the pipeline signals carries the API's signature, which
// verifies after the JSON round trip of a Temporal signal, with the staged
// object's content for a staged chunk.
func TestChunksAreSigned(t *testing.T) {
	t.Parallel()
	l := testLimits
	l.ChunkInlineBytes = 64 << 10
	p := newPipe(l)
	if _, err := p.run(250, lines(250, func(i int) string { return fmt.Sprintf("<&%020d>", i) }), nil); err != nil {
		t.Fatal(err)
	}
	staged := 0
	for _, c := range p.sig.chunks {
		raw, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var got batch.ChunkRef
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
		body := p.objs.objects[got.Key]
		if got.Key != "" {
			staged++
		}
		if err := p.signer.Verify("batch_aaaaaaaaaaaaaaaaaaaaaaaa", "dev", &got, body); err != nil {
			t.Fatalf("chunk %d (key %q): %v", got.Seq, got.Key, err)
		}
		if err := p.signer.Verify("batch_aaaaaaaaaaaaaaaaaaaaaaab", "dev", &got, body); err == nil {
			t.Fatalf("chunk %d verifies for another batch", got.Seq)
		}
	}
	if staged != 2 || len(p.sig.chunks) != 3 {
		t.Fatalf("%d chunks, %d staged", len(p.sig.chunks), staged)
	}
}

func TestSmallChunkTravelsInline(t *testing.T) {
	t.Parallel()
	p := newPipe(testLimits)
	res, err := p.run(3, lines(3, func(i int) string { return "x" }), nil)
	if err != nil || res.Chunks != 1 || res.Staged != 0 || len(p.sig.chunks[0].Items) != 3 || len(p.objs.objects) != 0 {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestLargePayloadsGoToTheirPacketKeys(t *testing.T) {
	t.Parallel()
	p := newPipe(testLimits)
	big := strings.Repeat("b", 64<<10) // exactly the threshold: offloaded
	body := fmt.Sprintf(`{"index":0,"task":"t","payload":%q,"options":{"payloadType":"text/plain"}}`+"\n", big) +
		fmt.Sprintf(`{"index":1,"task":"t","payload":%q}`+"\n", big[1:]) // one byte less: inline
	res, err := p.run(2, body, nil)
	if err != nil || res.Offloaded != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	key := batch.PacketKey("dev", "batch_aaaaaaaaaaaaaaaaaaaaaaaa", 0, p.sig.chunks[0].Stream)
	if string(p.objs.objects[key]) != big || p.objs.types[key] != "text/plain" {
		t.Fatalf("packet object: %d bytes, type %q", len(p.objs.objects[key]), p.objs.types[key])
	}
	got := p.items(t)
	if *got[0].Payload != key || got[0].PayloadType != batch.PayloadTypeStore || got[0].PacketSize != int64(len(big)) {
		t.Fatalf("item 0 = %+v", got[0])
	}
	if *got[1].Payload != big[1:] || got[1].PacketSize != 0 {
		t.Fatalf("item 1 kept inline? %d bytes", len(*got[1].Payload))
	}
}

// A second delivery of an index (a re-send that missed the accepted
// snapshot) writes its own object: the first delivery's, which the run
// owns, is never overwritten.
func TestRedeliveryNeverOverwritesThePacket(t *testing.T) {
	t.Parallel()
	p := newPipe(testLimits)
	first, second := strings.Repeat("a", 64<<10), strings.Repeat("b", 65<<10)
	for _, payload := range []string{first, second} {
		if _, err := p.run(1, fmt.Sprintf(`{"index":0,"task":"t","payload":%q}`+"\n", payload), nil); err != nil {
			t.Fatal(err)
		}
	}
	if len(p.sig.chunks) != 2 || p.sig.chunks[0].Stream == p.sig.chunks[1].Stream {
		t.Fatalf("%d chunks", len(p.sig.chunks))
	}
	k1 := batch.PacketKey("dev", "batch_aaaaaaaaaaaaaaaaaaaaaaaa", 0, p.sig.chunks[0].Stream)
	k2 := batch.PacketKey("dev", "batch_aaaaaaaaaaaaaaaaaaaaaaaa", 0, p.sig.chunks[1].Stream)
	if k1 == k2 || string(p.objs.objects[k1]) != first || string(p.objs.objects[k2]) != second {
		t.Fatalf("keys %q and %q: %d and %d bytes", k1, k2, len(p.objs.objects[k1]), len(p.objs.objects[k2]))
	}
	if i, ok := batch.PacketIndex(batch.BatchPacketPrefix("dev", "batch_aaaaaaaaaaaaaaaaaaaaaaaa"), k1); !ok || i != 0 {
		t.Fatalf("PacketIndex(%q) = %d %v", k1, i, ok)
	}
}

func TestUploadsAreBounded(t *testing.T) {
	t.Parallel()
	l := testLimits
	l.UploadsInFlight, l.UploadBytesInFlight = 3, 1<<20
	p := newPipe(l)
	p.objs.hold = make(chan struct{})
	big := strings.Repeat("z", 300<<10) // 3 fit the byte budget only just
	done := make(chan error, 1)
	go func() {
		_, err := p.run(20, lines(20, func(int) string { return big }), nil)
		done <- err
	}()
	// Wait until the reader is blocked on the bound, then check it held.
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.objs.mu.Lock()
		in := p.objs.inFlight
		p.objs.mu.Unlock()
		if in >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // room for a bound violation to show
	close(p.objs.hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if p.objs.maxIn != 3 || p.objs.maxBytes > int64(l.UploadBytesInFlight) {
		t.Fatalf("max uploads in flight %d (bound 3), max bytes %d (bound %d)", p.objs.maxIn, p.objs.maxBytes, l.UploadBytesInFlight)
	}
	if len(p.items(t)) != 20 {
		t.Fatal("items lost")
	}
}

func TestDuplicatesWithinAndAcrossStreams(t *testing.T) {
	t.Parallel()
	p := newPipe(testLimits)
	seen := batch.NewIndexSet(5)
	seen.Add(4) // accepted by an earlier request
	body := `{"index":1,"task":"t","payload":"first"}` + "\n" +
		`{"index":1,"task":"t","payload":"second"}` + "\n" +
		`{"index":4,"task":"t","payload":"again"}` + "\n" +
		`{"index":0,"task":"t"}`
	res, err := p.run(5, body, seen)
	if err != nil || res.Accepted != 2 || res.Deduplicated != 2 || res.Items != 4 {
		t.Fatalf("%+v %v", res, err)
	}
	got := p.items(t)
	if len(got) != 2 || *got[1].Payload != "first" || got[0].Payload != nil {
		t.Fatalf("items %+v", got)
	}
	if seen.Len() != 3 {
		t.Fatalf("seen %d", seen.Len())
	}
}

func TestOversizedLineBecomesFailedItem(t *testing.T) {
	t.Parallel()
	l := testLimits
	l.ItemMaxBytes = 1024
	p := newPipe(l)
	huge := strings.Repeat("h", 4000)
	body := `{"index":0,"task":"a"}` + "\n" +
		fmt.Sprintf(`{"task":"big","payload":%q}`, huge) + "\n" + // no index: emit position 1
		fmt.Sprintf(`{"index":2,"task":"big2","payload":%q}`, huge) + "\n"
	res, err := p.run(3, body, nil)
	if err != nil || res.Accepted != 3 {
		t.Fatalf("%+v %v", res, err)
	}
	got := p.items(t)
	if got[1].ErrorCode != batch.ErrorPayloadTooLarge || got[1].Task != "big" || got[2].Task != "big2" || !strings.Contains(got[2].ErrorMessage, "Maximum allowed size is 1.0 KB") {
		t.Fatalf("items %+v", got)
	}
	if c := p.sig.chunks[0]; len(c.Failed) != 2 {
		t.Fatalf("chunk failed list %v", c.Failed)
	}
	// An oversized line whose index is out of range is refused.
	_, err = newPipe(l).run(2, fmt.Sprintf(`{"index":5,"task":"big","payload":%q}`, huge), nil)
	var ve *ValidationError
	if !errors.As(err, &ve) || !strings.Contains(ve.Msg, "index 5") {
		t.Fatalf("want a validation error for index 5, got %v", err)
	}
}

func TestBadLinesStopTheStream(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body string
		syntax     bool
		contains   string
	}{
		{"invalid JSON", "{\"index\":0,\"task\":\"t\"}\n\n{nope}\n", true, "Invalid JSON at line 3"},
		{"invalid UTF-8", "{\"index\":0,\"task\":\"t\"}\n{\"index\":1,\"task\":\"\xff\"}\n", true, "Invalid UTF-8 at line 2"},
		{"index out of range", `{"index":9,"task":"t"}`, false, "out of range"},
		{"not an object", `[1,2]`, false, "expected a JSON object"},
		{"NUL in payload", `{"index":0,"task":"t","payload":"a\u0000b"}`, false, "U+0000"},
		{"NUL in options", `{"index":0,"task":"t","options":{"metadata":{"k":"\u0000"}}}`, false, `\u0000`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := newPipe(testLimits).run(3, tc.body, nil)
			var se *SyntaxError
			var ve *ValidationError
			if tc.syntax && (!errors.As(err, &se) || !strings.Contains(se.Msg, tc.contains)) {
				t.Fatalf("want SyntaxError %q, got %v", tc.contains, err)
			}
			if !tc.syntax && (!errors.As(err, &ve) || !strings.Contains(ve.Msg, tc.contains)) {
				t.Fatalf("want ValidationError %q, got %v", tc.contains, err)
			}
		})
	}
	// A byte-order mark before a line is not part of the JSON.
	if _, err := newPipe(testLimits).run(1, "\xEF\xBB\xBF"+`{"index":0,"task":"t"}`, nil); err != nil {
		t.Fatal(err)
	}
	// An escaped backslash before "u0000" is text, not NUL.
	if _, err := newPipe(testLimits).run(1, `{"index":0,"task":"t","options":{"metadata":"\\u0000"}}`, nil); err != nil {
		t.Fatal(err)
	}
}

func TestFailuresAreReportedAndLeakNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	upload := errors.New("s3 is down")
	p := newPipe(testLimits)
	p.objs.fail = upload
	big := strings.Repeat("q", 100<<10)
	if _, err := p.run(50, lines(50, func(int) string { return big }), nil); !errors.Is(err, upload) {
		t.Fatalf("want the upload error, got %v", err)
	}
	p = newPipe(testLimits)
	p.sig.err = ingestwf.ErrClosed
	if _, err := p.run(50, lines(50, func(int) string { return "s" }), nil); !errors.Is(err, ingestwf.ErrClosed) {
		t.Fatalf("want ErrClosed, got %v", err)
	}
	// A reader error (client gone) is reported as such.
	p = newPipe(testLimits)
	_, err := p.ing.Ingest(context.Background(), Request{
		Batch: ingestwf.Input{BatchID: "batch_aaaaaaaaaaaaaaaaaaaaaaaa", Env: "dev", RunCount: 10},
		Body:  io.MultiReader(strings.NewReader(`{"index":0,"task":"t"}`+"\n"), errReader{io.ErrUnexpectedEOF}),
		Seen:  batch.NewIndexSet(10),
	})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("want unexpected EOF, got %v", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines left running (had %d)", n, before)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func BenchmarkIngestSmallItems(b *testing.B) {
	body := lines(10000, func(i int) string { return strings.Repeat("p", 200) })
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		p := newPipe(Limits{ItemMaxBytes: 3 << 20, OffloadThreshold: 512 << 10, ChunkItems: 1000, ChunkBytes: 32 << 20,
			ChunkInlineBytes: 16 << 10, ChunksInFlight: 4, UploadsInFlight: 32, UploadBytesInFlight: 64 << 20})
		if _, err := p.run(10000, body, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// Concurrent streams share one memory budget far smaller than what they
// would hold together; they still all finish (each flushes its partial
// chunk before waiting) and deliver every item.
func TestSharedMemoryBudgetCannotDeadlock(t *testing.T) {
	t.Parallel()
	l := testLimits
	l.Memory = 64 << 10
	p := newPipe(l)
	body := lines(500, func(i int) string { return strings.Repeat("m", 1024) })
	var g errgroup.Group
	for range 4 {
		g.Go(func() error {
			res, err := p.run(500, body, nil)
			if err == nil && res.Accepted != 500 {
				err = fmt.Errorf("accepted %d", res.Accepted)
			}
			return err
		})
	}
	done := make(chan error, 1)
	go func() { done <- g.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("streams deadlocked on the shared memory budget")
	}
	if got := len(p.sig.chunks); got < 4*5 {
		t.Fatalf("%d chunks: the budget should have forced small chunks", got)
	}
	if !p.ing.mem.TryAcquire(int64(l.Memory)) {
		t.Fatal("budget not fully released after the streams")
	}
}

// BenchmarkChunkEncoding measures encoding a staged chunk of 5,000 small
// items (what send does before its S3 PUT) and decoding it (what the
// enqueue activity does after its GET).
func BenchmarkChunkEncoding(b *testing.B) {
	items := make([]batch.Item, 5000)
	for i := range items {
		p := fmt.Sprintf(`{"json":{"user":%d,"note":"%s"}}`, i, strings.Repeat("n", 200))
		items[i] = batch.Item{Index: i, Task: "email", Payload: &p, PayloadType: "application/super+json", Options: []byte(`{"tags":["a"]}`)}
	}
	raw, _ := json.Marshal(items)
	b.Run("encode", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(items); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			var out []batch.Item
			if err := json.Unmarshal(raw, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A stream that fails while a full chunk waits for a chunk slot must give
// the chunk's bytes back to the process-wide budget: otherwise every failed
// stream shrinks the budget until healthy streams wait for ever.
func TestFailedStreamReturnsItsMemory(t *testing.T) {
	t.Parallel()
	l := testLimits
	l.Memory = 1 << 20
	l.ChunkItems = 10
	l.ChunksInFlight = 1
	p := newPipe(l)
	boom := errors.New("signal refused")
	p.sig.err = boom
	for range 5 {
		// 60 small items: the first chunk's signal fails, cancelling the
		// stream while the next full chunk waits for the only slot.
		if _, err := p.run(60, lines(60, func(int) string { return strings.Repeat("k", 1000) }), nil); !errors.Is(err, boom) {
			t.Fatalf("want the signal error, got %v", err)
		}
	}
	if !p.ing.mem.TryAcquire(int64(l.Memory)) {
		t.Fatal("failed streams leaked part of the memory budget")
	}
}
