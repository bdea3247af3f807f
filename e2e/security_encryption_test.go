package e2e

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/streambatch/streambatch/codec"
	"github.com/streambatch/streambatch/tasks"
)

// Tenant data never reaches Temporal in the clear: the items, the run
// inputs and outputs and the error texts of a batch that executed are
// nowhere in the bytes of either workflow's history, while the API (which
// holds the keys) reads every outcome, and the codec endpoint decodes the
// history's payloads for an operator with its token.
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
	for _, wid := range slices.Compact([]string{id, runsWorkflowOf(s, id)}) {
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
		resp := send(t, http.DefaultClient, http.MethodPost, codecSrv.URL+"/decode", bytes.NewReader(req), withKey("operator", ""))
		var plain commonpb.Payloads
		if err := protojson.Unmarshal(resp.Body, &plain); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("decode: %d %s %v", resp.StatusCode, resp.Body, err)
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

// A task worker that holds only its environment's keys (payload-key --env)
// executes that environment's runs, and reads nothing of another
// environment's: a run envelope of tenant B does not decrypt with tenant
// A's keys.
func TestTaskWorkerHoldsOnlyItsEnvironmentKeys(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	ctx := context.Background()
	envA, keyA := s.newKey(t)
	_, keyB := s.newKey(t)
	master, err := codec.ParseKeys(e2ePayloadKeys)
	if err != nil {
		t.Fatal(err)
	}
	keysA, err := codec.ParseKeys(envPayloadKeys(t, envA))
	if err != nil {
		t.Fatal(err)
	}
	opts := client.Options{HostPort: s.temporal.FrontendHostPort(), Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))}
	codec.Apply(&opts, keysA)
	ca, err := client.Dial(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	w := tasks.NewWorker(ca, envA, "", sdkworker.Options{})
	tasks.Register(w, "double", func(ctx context.Context, in echoIn) (int, error) { return 2 * in.N, nil })
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	idA := s.mustCreate(t, keyA, 1)
	if code, res, raw := s.stream(t, keyA, idA, []byte(`{"index":0,"task":"double","payload":{"n":21}}`+"\n")); code != http.StatusOK || !res.Sealed {
		t.Fatalf("stream A: %d %s", code, raw)
	}
	if b := s.waitBatch(t, keyA, idA, time.Minute); b.Status != "COMPLETED" {
		t.Fatalf("batch A %+v", b)
	}
	if runs := s.runs(t, keyA, idA); len(runs) != 1 || runs[0].Output == nil || *runs[0].Output != "42" {
		t.Fatalf("run of A: %+v", runs)
	}

	// Tenant B's run (no worker of B runs, so it waits, scheduled) in B's
	// BatchRuns history: A's keys cannot read its envelope.
	idB := s.mustCreate(t, keyB, 1)
	if code, res, raw := s.stream(t, keyB, idB, []byte(`{"index":0,"task":"double","payload":{"n":7}}`+"\n")); code != http.StatusOK || !res.Sealed {
		t.Fatalf("stream B: %d %s", code, raw)
	}
	var envelope *commonpb.Payload
	for deadline := time.Now().Add(time.Minute); envelope == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("B's run was never scheduled")
		}
		it := s.app.Temporal.GetWorkflowHistory(ctx, runsWorkflowOf(s, idB), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				break
			}
			if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && len(a.GetInput().GetPayloads()) == 1 {
				envelope = a.GetInput().GetPayloads()[0]
			}
		}
	}
	var env map[string]any
	if err := codec.DataConverter(keysA).FromPayload(envelope, &env); err == nil {
		t.Fatalf("tenant A's keys read tenant B's run: %v", env)
	}
	if err := codec.DataConverter(master).FromPayload(envelope, &env); err != nil || env["batchId"] != idB {
		t.Fatalf("streambatch's keys: %v %v", env, err)
	}
}
