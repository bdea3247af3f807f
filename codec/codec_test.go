package codec

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
)

func mustKeys(t *testing.T, ids ...string) (*Keys, []string) {
	t.Helper()
	var entries []string
	for _, id := range ids {
		e, err := NewKey(id)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	k, err := ParseKeys(strings.Join(entries, ","))
	if err != nil {
		t.Fatal(err)
	}
	return k, entries
}

func TestRoundTripHidesTheData(t *testing.T) {
	t.Parallel()
	keys, _ := mustKeys(t, "k1")
	dc := DataConverter(keys)
	p, err := dc.ToPayload(map[string]string{"secret": "tenant-a-card-4242"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(p.GetData(), []byte("4242")) || string(p.GetMetadata()["encoding"]) != MetadataEncoding ||
		string(p.GetMetadata()[MetadataKeyID]) != "k1" {
		t.Fatalf("payload not encrypted: %v", p)
	}
	var got map[string]string
	if err := dc.FromPayload(p, &got); err != nil || got["secret"] != "tenant-a-card-4242" {
		t.Fatalf("%v %v", got, err)
	}
}

func TestRotationKeepsOldPayloadsReadable(t *testing.T) {
	t.Parallel()
	_, e1 := mustKeys(t, "k1")
	_, e2 := mustKeys(t, "k2")
	old, _ := ParseKeys(e1[0])
	rotated, err := ParseKeys(e2[0] + "," + e1[0])
	if err != nil {
		t.Fatal(err)
	}
	p, _ := DataConverter(old).ToPayload("written before the rotation")
	var s string
	if err := DataConverter(rotated).FromPayload(p, &s); err != nil || s != "written before the rotation" {
		t.Fatalf("%q %v", s, err)
	}
	q, _ := DataConverter(rotated).ToPayload("after")
	if id := string(q.GetMetadata()[MetadataKeyID]); id != "k2" || rotated.ActiveID() != "k2" {
		t.Fatalf("encrypted with %q", id)
	}
	if err := DataConverter(old).FromPayload(q, &s); err == nil || !strings.Contains(err.Error(), `"k2"`) {
		t.Fatalf("a key set without k2 decoded it: %v", err)
	}
}

func TestPlainPayloadsPassThroughAndDamageIsRefused(t *testing.T) {
	t.Parallel()
	keys, _ := mustKeys(t, "k1")
	plain, _ := converter.GetDefaultDataConverter().ToPayload("from the CLI")
	var s string
	if err := DataConverter(keys).FromPayload(plain, &s); err != nil || s != "from the CLI" {
		t.Fatalf("%q %v", s, err)
	}
	enc, _ := New(keys).Encode([]*commonpb.Payload{plain})
	enc[0].Data[len(enc[0].Data)-1] ^= 1
	if _, err := New(keys).Decode(enc); err == nil {
		t.Fatal("a damaged payload decoded")
	}
	enc[0].Data = enc[0].Data[:5]
	if _, err := New(keys).Decode(enc); err == nil {
		t.Fatal("a truncated payload decoded")
	}
}

func TestParseKeysRefusesBadSets(t *testing.T) {
	t.Parallel()
	_, good := mustKeys(t, "k1")
	for _, bad := range []string{"", "k1", "k1:notbase64!", "k1:" + "c2hvcnQ=", "bad id:" + strings.SplitN(good[0], ":", 2)[1], good[0] + "," + good[0]} {
		if _, err := ParseKeys(bad); err == nil {
			t.Errorf("ParseKeys(%q) accepted", bad)
		}
	}
}

func TestHandlerDecodesForAuthorizedCallers(t *testing.T) {
	t.Parallel()
	keys, _ := mustKeys(t, "k1")
	srv := httptest.NewServer(Handler(keys, HandlerOptions{Origins: []string{"http://localhost:8233"}, Token: "op-token"}))
	defer srv.Close()
	p, _ := DataConverter(keys).ToPayload("visible to operators")
	body, _ := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{p}})
	call := func(token string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/decode", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "http://localhost:8233")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if r := call(""); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: %d", r.StatusCode)
	}
	if r := call("wrong"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", r.StatusCode)
	}
	r := call("op-token")
	var out commonpb.Payloads
	raw := new(bytes.Buffer)
	raw.ReadFrom(r.Body)
	if err := protojson.Unmarshal(raw.Bytes(), &out); err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("%d %s %v", r.StatusCode, raw, err)
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(out.Payloads[0], &s); err != nil || s != "visible to operators" {
		t.Fatalf("%q %v", s, err)
	}
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != "http://localhost:8233" {
		t.Fatalf("CORS origin %q", got)
	}
	pre, _ := http.NewRequest(http.MethodOptions, srv.URL+"/decode", nil)
	pre.Header.Set("Origin", "http://evil.example")
	resp, err := http.DefaultClient.Do(pre)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS allowed an unlisted origin")
	}
}

// A run activity's payloads are encrypted under its environment's key
// (task queue runs.<env>…): that environment's key set (EnvKeys) reads
// them and encrypts its results so that streambatch reads them; another
// environment's key set reads nothing of it.
func TestEnvironmentKeysIsolateTenants(t *testing.T) {
	t.Parallel()
	keys, _ := mustKeys(t, "k1")
	runOf := func(env string) converter.DataConverter {
		return converter.WithDataConverterSerializationContext(DataConverter(keys), converter.ActivitySerializationContext{TaskQueue: "runs." + env + ".emails"})
	}
	p, err := runOf("tenant-a").ToPayload("tenant A's envelope")
	if err != nil {
		t.Fatal(err)
	}
	if id := string(p.GetMetadata()[MetadataKeyID]); id != "k1.env-tenant-a" {
		t.Fatalf("a run of tenant-a encrypted with %q", id)
	}
	setA, err := keys.EnvKeys("tenant-a")
	if err != nil {
		t.Fatal(err)
	}
	setB, _ := keys.EnvKeys("tenant-b")
	a, err := ParseKeys(setA)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ParseKeys(setB)
	var s string
	if err := DataConverter(a).FromPayload(p, &s); err != nil || s != "tenant A's envelope" {
		t.Fatalf("tenant-a's workers: %q %v", s, err)
	}
	if err := DataConverter(b).FromPayload(p, &s); err == nil {
		t.Fatal("tenant-b's key set read tenant-a's run")
	}
	// The task worker's result, in its own context, comes back readable.
	out, _ := converter.WithDataConverterSerializationContext(DataConverter(a), converter.ActivitySerializationContext{TaskQueue: "runs.tenant-a"}).ToPayload("done")
	if err := DataConverter(keys).FromPayload(out, &s); err != nil || s != "done" || string(out.GetMetadata()[MetadataKeyID]) != "k1.env-tenant-a" {
		t.Fatalf("the result: %q %v (%s)", s, err, out.GetMetadata()[MetadataKeyID])
	}
	// streambatch's own payloads stay under its key, which no environment holds.
	own, _ := DataConverter(keys).ToPayload("workflow input")
	if err := DataConverter(a).FromPayload(own, &s); err == nil {
		t.Fatal("an environment's key set read streambatch's own payload")
	}
	if _, err := a.EnvKeys("x"); err == nil {
		t.Fatal("an environment's set derived further keys")
	}
}

// TestApplyTurnsGzipOff checks that Apply sets the converters and turns the
// SDK's default gzip off (ciphertext does not compress), but keeps a
// compression the caller chose.
func TestApplyTurnsGzipOff(t *testing.T) {
	keys, _ := mustKeys(t, "k1")
	var opts client.Options
	Apply(&opts, keys)
	if opts.DataConverter == nil || opts.FailureConverter == nil {
		t.Fatal("Apply left a converter unset")
	}
	if _, ok := opts.ConnectionOptions.GrpcCompression.(*client.GrpcCompressionNone); !ok {
		t.Fatalf("GrpcCompression = %T, want none", opts.ConnectionOptions.GrpcCompression)
	}
	chosen := client.Options{ConnectionOptions: client.ConnectionOptions{GrpcCompression: &client.GrpcCompressionGzip{}}}
	Apply(&chosen, keys)
	if _, ok := chosen.ConnectionOptions.GrpcCompression.(*client.GrpcCompressionGzip); !ok {
		t.Fatalf("Apply replaced the caller's compression with %T", chosen.ConnectionOptions.GrpcCompression)
	}
}

// TestEnvDataConverterEncryptsForTheEnvironment checks that what
// streambatch sends an environment's own workflows is readable with that
// environment's key set alone, and with no other environment's.
func TestEnvDataConverterEncryptsForTheEnvironment(t *testing.T) {
	t.Parallel()
	keys, _ := mustKeys(t, "k1")
	p, err := EnvDataConverter(keys, "tenant-a").ToPayload("batch done")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("the environment reads it", func(t *testing.T) {
		set, _ := keys.EnvKeys("tenant-a")
		a, err := ParseKeys(set)
		if err != nil {
			t.Fatal(err)
		}
		var s string
		if err := DataConverter(a).FromPayload(p, &s); err != nil || s != "batch done" {
			t.Fatalf("tenant-a's key set: %q %v", s, err)
		}
	})
	t.Run("another environment does not", func(t *testing.T) {
		set, _ := keys.EnvKeys("tenant-b")
		b, _ := ParseKeys(set)
		var s string
		if err := DataConverter(b).FromPayload(p, &s); err == nil {
			t.Fatal("tenant-b's key set read tenant-a's signal")
		}
	})
	t.Run("streambatch's own set reads it", func(t *testing.T) {
		var s string
		if err := DataConverter(keys).FromPayload(p, &s); err != nil || s != "batch done" {
			t.Fatalf("own key set: %q %v", s, err)
		}
	})
}

// The endpoint answers only requests addressed to a loopback name or a
// configured one: a page whose own name was rebound to 127.0.0.1 (DNS
// rebinding) sends its own name as Host and is refused, preflight included.
func TestHandlerRefusesForeignHosts(t *testing.T) {
	t.Parallel()
	keys, _ := mustKeys(t, "k1")
	srv := httptest.NewServer(Handler(keys, HandlerOptions{Origins: []string{"http://localhost:8233"}, Hosts: []string{"codec.example.com", "ops.example.com:9443"}}))
	defer srv.Close()
	p, _ := DataConverter(keys).ToPayload("visible to operators")
	body, _ := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{p}})
	do := func(method, host string) (*http.Response, string) {
		t.Helper()
		var rd io.Reader
		if method == http.MethodPost {
			rd = bytes.NewReader(body)
		}
		req, _ := http.NewRequest(method, srv.URL+"/decode", rd)
		req.Host = host
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "http://localhost:8233")
		if method == http.MethodOptions {
			req.Header.Set("Access-Control-Request-Method", "POST")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp, string(raw)
	}
	for _, host := range []string{"localhost:8081", "localhost", "LOCALHOST.:8081", "127.0.0.1:8089", "127.0.0.2", "[::1]:8089", "codec.example.com", "Codec.Example.com:443", "ops.example.com:9443"} {
		resp, raw := do(http.MethodPost, host)
		if resp.StatusCode != http.StatusOK || !strings.Contains(raw, `"payloads"`) {
			t.Errorf("Host %s: %d %s", host, resp.StatusCode, raw)
		}
		resp, raw = do(http.MethodOptions, host)
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:8233" {
			t.Errorf("preflight, Host %s: %d %s %v", host, resp.StatusCode, raw, resp.Header)
		}
	}
	for _, host := range []string{"evil.example", "evil.example:8089", "localhost.evil.example", "127.0.0.1.nip.io:8089", "ops.example.com:443", "codec.example.com.evil.example"} {
		for _, method := range []string{http.MethodPost, http.MethodOptions} {
			resp, raw := do(method, host)
			if resp.StatusCode != http.StatusMisdirectedRequest || !strings.Contains(raw, "STREAMBATCH_CODEC_HOSTS") || strings.Contains(raw, "payloads") {
				t.Errorf("%s with Host %s: %d %s", method, host, resp.StatusCode, raw)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("%s with Host %s: CORS answered", method, host)
			}
		}
	}
}

// A request head whose body never comes loses its connection after the
// timeout, whether it was refused before its body (no token) or its body
// was being read.
func TestHandlerCutsUnfinishedBodies(t *testing.T) {
	t.Parallel()
	keys, _ := mustKeys(t, "k1")
	srv := httptest.NewServer(Handler(keys, HandlerOptions{Token: "op-token", Timeout: 200 * time.Millisecond}))
	defer srv.Close()
	for _, auth := range []string{"", "Authorization: Bearer op-token\r\n"} {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, "POST /decode HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"+auth+"Content-Length: 1000\r\n\r\n{\"payloads\":"); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		got, err := io.ReadAll(conn)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%q: connection still open after 30s; read %.200q", auth, got)
		}
		if !strings.HasPrefix(string(got), "HTTP/1.1 4") {
			t.Errorf("%q: answered %.200q", auth, got)
		}
	}
}
