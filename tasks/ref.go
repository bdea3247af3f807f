package tasks

import (
	"context"
	"net/http"
)

// resolveRef turns a run whose payload travels by reference
// (PayloadRefType set) into the run as it would have arrived inline: the
// payload fetched through PayloadURL, with its own type. Other runs are
// left as they are.
func (r *Run) resolveRef(ctx context.Context) error {
	if r.PayloadRefType == "" {
		return nil
	}
	data, err := r.Payload(ctx)
	if err != nil {
		return err
	}
	r.Envelope.Payload, r.PayloadType, r.PayloadURL, r.PayloadRefType = string(data), r.PayloadRefType, "", ""
	return nil
}

// refusedForGood reports an answer of streambatch's payload route that the
// same reference will always get: forged or expired (403), no such run
// (404), run finished (410).
func refusedForGood(status int) bool {
	return status == http.StatusForbidden || status == http.StatusNotFound || status == http.StatusGone
}
