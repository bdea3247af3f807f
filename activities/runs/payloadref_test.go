package runs

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store"
	"github.com/streambatch/streambatch/tasks"
	contract "github.com/streambatch/streambatch/workflows/runs"
)

// A payload at or above the threshold goes by reference when the step
// allows it: the envelope carries a signed URL of the API instead of the
// payload, marked application/store with its own type beside; smaller
// payloads, stored payloads and steps of workflows that predate
// references keep theirs.
func TestDispatchSendsLargePayloadsByReference(t *testing.T) {
	t.Parallel()
	signer, err := batch.NewPayloadRefSigner("secret-secret-secret-secret-secret")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	a := &Activities{Objects: &fakeObjects{},
		PayloadRefs: &PayloadRefs{Signer: signer, BaseURL: "http://api.test:8080", Threshold: 4 << 10, TTL: time.Hour}}
	in := contract.StepInput{BatchID: "batch_x", Env: "prod", Now: now, MaxAttempts: 3, MaxDuration: time.Hour, Aside: true, ByRef: true}
	claimed := func(size int, typ string) store.ClaimedRun {
		p := strings.Repeat("x", size)
		if typ == batch.PayloadTypeStore {
			p = batch.PacketPrefix("prod") + "batch_x/item_1/payload-s.json"
		}
		return store.ClaimedRun{Index: 1, Task: "t", PayloadType: typ, Payload: &p, QueueTimestamp: now}
	}

	t.Run("at the threshold: by reference", func(t *testing.T) {
		d, _, err := a.dispatch(context.Background(), in, claimed(4<<10, tasks.PayloadTypeSuperJSON), false)
		if err != nil {
			t.Fatal(err)
		}
		e := d.Envelope
		if e.Payload != "" || e.PayloadType != tasks.PayloadTypeStore || e.PayloadRefType != tasks.PayloadTypeSuperJSON {
			t.Fatalf("envelope %+v: want no payload, application/store, payloadRefType application/super+json", e)
		}
		u, err := url.Parse(e.PayloadURL)
		if err != nil || !strings.HasPrefix(e.PayloadURL, "http://api.test:8080"+batch.PayloadRefPath(e.ID)+"?") {
			t.Fatalf("payloadUrl %q", e.PayloadURL)
		}
		if err := signer.Verify("prod", e.ID, u.Query(), now.Add(59*time.Minute)); err != nil {
			t.Fatalf("reference does not verify for its run: %v", err)
		}
		if err := signer.Verify("prod", e.ID, u.Query(), now.Add(time.Hour)); err == nil {
			t.Fatal("reference valid beyond its TTL")
		}
	})
	for name, tc := range map[string]struct {
		in  contract.StepInput
		run store.ClaimedRun
	}{
		"below the threshold: inline":     {in, claimed(4<<10-1, batch.PayloadTypeJSON)},
		"a workflow before payload-ref":   {contract.StepInput{BatchID: in.BatchID, Env: in.Env, Now: now, Aside: true}, claimed(8<<10, batch.PayloadTypeJSON)},
		"stored in S3: its presigned URL": {in, claimed(0, batch.PayloadTypeStore)},
	} {
		t.Run(name, func(t *testing.T) {
			d, _, err := a.dispatch(context.Background(), tc.in, tc.run, false)
			if err != nil {
				t.Fatal(err)
			}
			if d.Envelope.PayloadRefType != "" || d.Envelope.Payload != *tc.run.Payload || d.Envelope.PayloadType != tc.run.PayloadType {
				t.Fatalf("envelope %+v changed", d.Envelope)
			}
		})
	}
}

// The claim counts a payload as a reference (store.Step.RefFrom) exactly
// when the step may send it by reference.
func TestClaimRefFromFollowsTheStep(t *testing.T) {
	t.Parallel()
	signer, err := batch.NewPayloadRefSigner("secret-secret-secret-secret-secret")
	if err != nil {
		t.Fatal(err)
	}
	on := &PayloadRefs{Signer: signer, BaseURL: "http://api.test:8080", Threshold: 4 << 10, TTL: time.Hour}
	for name, tc := range map[string]struct {
		p    *PayloadRefs
		in   contract.StepInput
		want int
	}{
		"references on":              {on, contract.StepInput{ByRef: true}, 4 << 10},
		"a workflow before them":     {on, contract.StepInput{}, 0},
		"no references configured":   {nil, contract.StepInput{ByRef: true}, 0},
		"threshold 0 (every inline)": {&PayloadRefs{Signer: signer, Threshold: 0}, contract.StepInput{ByRef: true}, 0},
	} {
		if got := tc.p.refFrom(tc.in); got != tc.want {
			t.Errorf("%s: RefFrom %d, want %d", name, got, tc.want)
		}
	}
}
