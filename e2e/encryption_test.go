package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/streambatch/streambatch/codec"
)

// Tenant data never reaches Temporal in the clear: the items, the run
// inputs and outputs and the error texts of a batch that executed are
// nowhere in the bytes of either workflow's history, while the API (which
// holds the keys) reads every outcome, and the codec endpoint decodes the
// history's payloads for an operator with its token (issue 11.10).
func TestPayloadsEncryptedInTemporal(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	startTaskWorker(t, s, env)
	secret := 900000000 + int(time.Now().UnixNano()%99999999)
	body := fmt.Sprintf(`{"index":0,"task":"echo","payload":{"n":%d}}`+"\n"+`{"index":1,"task":"broken","payload":{"n":%d},"options":{"maxAttempts":1}}`+"\n", secret, secret)
	id := s.mustCreate(t, key, 2)
	if code, res, raw := s.stream(t, key, id, []byte(body)); code != http.StatusOK || !res.Sealed {
		t.Fatalf("stream: %d %s", code, raw)
	}
	if b := s.waitBatch(t, key, id, 2*time.Minute); b.Status != "COMPLETED" {
		t.Fatalf("batch %+v", b)
	}
	// The API decrypts: outputs and errors are exact.
	for _, r := range s.runs(t, key, id) {
		switch r.Index {
		case 0:
			if r.Output == nil || !strings.Contains(*r.Output, fmt.Sprint(2*secret)) {
				t.Fatalf("run 0 output %v", deref(r.Output))
			}
		case 1:
			if r.Error == nil || !strings.Contains(r.Error.Message, fmt.Sprint(secret)) {
				t.Fatalf("run 1 error %+v", r.Error)
			}
		}
	}
	keys, err := codec.ParseKeys(e2ePayloadKeys)
	if err != nil {
		t.Fatal(err)
	}
	codecSrv := httptest.NewServer(codec.Handler(keys, codec.HandlerOptions{Token: "operator"}))
	defer codecSrv.Close()
	decoded := 0
	for _, wid := range []string{id, id + "-runs"} {
		var all []byte
		var payloads []*commonpb.Payload
		it := s.app.Temporal.GetWorkflowHistory(context.Background(), wid, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			raw, err := proto.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, raw...)
			if a := ev.GetWorkflowExecutionSignaledEventAttributes(); a != nil {
				payloads = append(payloads, a.GetInput().GetPayloads()...)
			}
			if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
				payloads = append(payloads, a.GetInput().GetPayloads()...)
			}
		}
		for _, leak := range []string{fmt.Sprint(secret), fmt.Sprint(2 * secret)} {
			if bytes.Contains(all, []byte(leak)) {
				t.Fatalf("%s's history holds tenant data %q in the clear", wid, leak)
			}
		}
		// An operator with the codec endpoint's token reads them.
		req, _ := protojson.Marshal(&commonpb.Payloads{Payloads: payloads})
		hreq, _ := http.NewRequest(http.MethodPost, codecSrv.URL+"/decode", bytes.NewReader(req))
		hreq.Header.Set("Authorization", "Bearer operator")
		resp, err := http.DefaultClient.Do(hreq)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		out.ReadFrom(resp.Body)
		resp.Body.Close()
		var plain commonpb.Payloads
		if err := protojson.Unmarshal(out.Bytes(), &plain); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("decode: %d %s %v", resp.StatusCode, out.String(), err)
		}
		for _, p := range plain.GetPayloads() {
			var v any
			if err := converter.GetDefaultDataConverter().FromPayload(p, &v); err == nil && strings.Contains(fmt.Sprint(v), fmt.Sprint(secret)) {
				decoded++
			}
		}
	}
	if decoded == 0 {
		t.Fatal("the codec endpoint decoded no payload that holds the items")
	}
}
