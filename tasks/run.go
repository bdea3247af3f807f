package tasks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// MaxPayloadBytes bounds what Run.Payload reads from a payload URL.
const MaxPayloadBytes = 64 << 20

// Run is a run being executed: its envelope and helpers to read its
// payload.
type Run struct {
	Envelope
	// Attempt is the attempt running now, 1-based (Envelope.Attempt - 1 +
	// the activity's attempt).
	Attempt int

	http *http.Client
}

// NewRun wraps an envelope received by an activity running in ctx.
func NewRun(ctx context.Context, env Envelope, hc *http.Client) *Run {
	if hc == nil {
		hc = http.DefaultClient
	}
	r := &Run{Envelope: env, Attempt: max(env.Attempt, 1), http: hc}
	if activity.IsActivity(ctx) {
		r.Attempt = max(env.Attempt, 1) - 1 + int(activity.GetInfo(ctx).Attempt)
	}
	return r
}

// Payload returns the payload's bytes: the packet text of an inline
// payload, or the stored object fetched through PayloadURL. A run without
// a payload gives nil.
func (r *Run) Payload(ctx context.Context) ([]byte, error) {
	if r.PayloadType != PayloadTypeStore {
		if r.Envelope.Payload == "" {
			return nil, nil
		}
		return []byte(r.Envelope.Payload), nil
	}
	if r.PayloadURL == "" {
		return nil, NonRetryable(fmt.Errorf("run %s: application/store payload %q has no payloadUrl", r.ID, r.Envelope.Payload))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.PayloadURL, nil)
	if err != nil {
		return nil, NonRetryable(fmt.Errorf("run %s: payload URL: %w", r.ID, err))
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("run %s: fetch payload: %w", r.ID, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		err := fmt.Errorf("run %s: fetch payload: HTTP %d %s", r.ID, resp.StatusCode, bytes.TrimSpace(msg))
		if r.PayloadRefType != "" && refusedForGood(resp.StatusCode) {
			return nil, NonRetryable(err) // the next attempt has the same reference
		}
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxPayloadBytes+1))
	if err != nil {
		return nil, fmt.Errorf("run %s: fetch payload: %w", r.ID, err)
	}
	if len(data) > MaxPayloadBytes {
		return nil, NonRetryable(fmt.Errorf("run %s: payload larger than %d bytes", r.ID, MaxPayloadBytes))
	}
	return data, nil
}

// Decode unmarshals the payload's JSON into v. A superjson packet
// (application/super+json) decodes its "json" member; a stored payload is
// fetched first. A run without a payload leaves v unchanged.
func (r *Run) Decode(ctx context.Context, v any) error {
	data, err := r.Payload(ctx)
	if err != nil || data == nil {
		return err
	}
	typ := r.PayloadType
	if r.PayloadRefType != "" {
		typ = r.PayloadRefType
	}
	if typ == PayloadTypeSuperJSON || (typ == PayloadTypeStore && bytes.HasPrefix(bytes.TrimSpace(data), []byte(`{"json"`))) {
		var sj struct {
			JSON json.RawMessage `json:"json"`
		}
		if err := json.Unmarshal(data, &sj); err == nil && sj.JSON != nil {
			data = sj.JSON
		}
	}
	if err := json.Unmarshal(data, v); err != nil {
		return NonRetryable(fmt.Errorf("run %s: payload is not the JSON this task expects: %w", r.ID, err))
	}
	return nil
}

// NonRetryable marks err so that the run fails at once instead of being
// retried (a Temporal non-retryable application error).
func NonRetryable(err error) error {
	if err == nil {
		return nil
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.NonRetryable() {
		return err
	}
	return temporal.NewNonRetryableApplicationError(err.Error(), "NonRetryable", err)
}

type runKey struct{}

// FromContext returns the run a task function registered with Register is
// executing.
func FromContext(ctx context.Context) (*Run, bool) {
	r, ok := ctx.Value(runKey{}).(*Run)
	return r, ok
}
