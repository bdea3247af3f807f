package api

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store"
)

// payloadRefFixture is a handler fixture whose API verifies payload
// references, with one QUEUED run of testEnv (index 0, JSON payload), one
// stored in S3 (index 1) and one COMPLETED (index 2).
func payloadRefFixture(t *testing.T) (*handlerFixture, *batch.PayloadRefSigner, string) {
	t.Helper()
	signer, err := batch.NewPayloadRefSigner(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	f := newHandlerFixture()
	f.srv.opts.PayloadRefs = signer
	f.h = f.srv.Handler()
	id := f.store.add(testEnv, 3, batch.StatusProcessing)
	payload, key := `{"name":"by-ref"}`, batch.PacketPrefix(testEnv.Name)+id+"/item_1/payload-s.json"
	f.store.addRun(id, 0, store.Run{Status: batch.RunQueued, PayloadType: batch.PayloadTypeJSON, Payload: &payload})
	f.store.addRun(id, 1, store.Run{Status: batch.RunExecuting, PayloadType: batch.PayloadTypeStore, Payload: &key})
	f.store.addRun(id, 2, store.Run{Status: batch.RunCompleted, PayloadType: batch.PayloadTypeJSON, Payload: &payload})
	return f, signer, id
}

// path is the request path of a reference (the API's base URL dropped).
func refPath(t *testing.T, ref string) string {
	t.Helper()
	u, err := url.Parse(ref)
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

// A task worker reads the run's payload as stored, with its type, through
// the reference the worker signed: no API key.
func TestRunPayloadServesASignedReference(t *testing.T) {
	t.Parallel()
	f, signer, id := payloadRefFixture(t)
	run := batch.RunID(id, 0)
	a := f.do(http.MethodGet, refPath(t, signer.URL("http://x", testEnv.Name, run, time.Now().Add(time.Hour))), "", "", "")
	if a.status != http.StatusOK || a.body != `{"name":"by-ref"}` || a.header.Get("Content-Type") != batch.PayloadTypeJSON {
		t.Fatalf("answer %d %q (%s)", a.status, a.body, a.header.Get("Content-Type"))
	}
	if a.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("Cache-Control %q", a.header.Get("Cache-Control"))
	}
}

// A payload stored in S3 redirects to a presigned GET.
func TestRunPayloadRedirectsToAStoredPayload(t *testing.T) {
	t.Parallel()
	f, signer, id := payloadRefFixture(t)
	run := batch.RunID(id, 1)
	a := f.do(http.MethodGet, refPath(t, signer.URL("http://x", testEnv.Name, run, time.Now().Add(time.Hour))), "", "", "")
	if a.status != http.StatusTemporaryRedirect || !strings.HasPrefix(a.header.Get("Location"), "https://s3.test/packets/test/"+id) {
		t.Fatalf("answer %d, Location %q", a.status, a.header.Get("Location"))
	}
}

// Anything but the server's unexpired reference for this run of this
// environment is refused with 403, and a missing batch reads the same; a
// finished run's reference no longer serves (410).
func TestRunPayloadRefusals(t *testing.T) {
	t.Parallel()
	f, signer, id := payloadRefFixture(t)
	other, _ := batch.NewPayloadRefSigner("another-secret-another-secret-another")
	run := batch.RunID(id, 0)
	later := time.Now().Add(time.Hour)
	cases := []struct {
		name   string
		path   string
		status int
		msg    string
	}{
		{"another environment's reference", refPath(t, signer.URL("", otherEnv.Name, run, later)), http.StatusForbidden, "not issued by this server for this run"},
		{"another run's reference", strings.Replace(refPath(t, signer.URL("", testEnv.Name, batch.RunID(id, 1), later)), batch.RunID(id, 1), run, 1), http.StatusForbidden, "not issued by this server for this run"},
		{"another secret", refPath(t, other.URL("", testEnv.Name, run, later)), http.StatusForbidden, "not issued by this server for this run"},
		{"no signature", batch.PayloadRefPath(run), http.StatusForbidden, "not issued by this server for this run"},
		{"expired", refPath(t, signer.URL("", testEnv.Name, run, time.Now().Add(-time.Second))), http.StatusForbidden, "expired"},
		{"missing batch", refPath(t, signer.URL("", testEnv.Name, batch.RunID(batch.NewBatchID(), 0), later)), http.StatusForbidden, "not issued by this server for this run"},
		{"malformed run id", "/api/v3/runs/run_x/payload?exp=1&sig=x", http.StatusForbidden, "not issued by this server for this run"},
		{"missing run", refPath(t, signer.URL("", testEnv.Name, batch.RunID(id, 7), later)), http.StatusNotFound, "not found"},
		{"finished run", refPath(t, signer.URL("", testEnv.Name, batch.RunID(id, 2), later)), http.StatusGone, "COMPLETED"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := f.do(http.MethodGet, c.path, "", "", "")
			wantRefused(t, a, c.status, c.msg)
			if strings.Contains(a.body, "by-ref") {
				t.Fatalf("refusal leaks the payload: %s", a.body)
			}
		})
	}
}

// Without a signer (no server secret) the route refuses every reference.
func TestRunPayloadWithoutSigner(t *testing.T) {
	t.Parallel()
	f, signer, id := payloadRefFixture(t)
	f.srv.opts.PayloadRefs = nil
	f.h = f.srv.Handler()
	a := f.do(http.MethodGet, refPath(t, signer.URL("", testEnv.Name, batch.RunID(id, 0), time.Now().Add(time.Hour))), "", "", "")
	wantRefused(t, a, http.StatusForbidden, "not issued by this server")
}
