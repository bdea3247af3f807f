package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store"
)

// payloadRefRoute is the route of batch.PayloadRefPath.
const payloadRefRoute = "/api/v3/runs/:runId/payload"

// runPayload is GET /api/v3/runs/<runId>/payload?exp=…&sig=…: a task worker
// reads the payload of a run dispatched by reference (see
// activities/runs.PayloadRefs). The reference is the credential, not an
// API key: the worker signed it for this run of its batch's environment,
// until exp, with a key only the server holds. A reference that is not
// the server's for this run and environment, or expired, answers 403 (a
// missing batch reads the same, so ids cannot be probed); a finished run
// answers 410, so a leaked reference stops working when its run ends; a
// payload stored in S3 redirects to a presigned GET. The body is the
// payload exactly as stored, with its type as Content-Type.
func (s *Server) runPayload(c *gin.Context) {
	const refused = "Invalid payload reference: it was not issued by this server for this run (ask streambatch's worker for the run's envelope again)"
	runID := c.Param("runId")
	batchID, index, ok := batch.ParseRunID(runID)
	if !ok || s.opts.PayloadRefs == nil {
		fail(c, http.StatusForbidden, refused)
		return
	}
	ctx := c.Request.Context()
	b, err := s.store.GetBatchAnyEnv(ctx, batchID)
	if errors.Is(err, store.ErrNotFound) {
		fail(c, http.StatusForbidden, refused)
		return
	}
	if err != nil {
		s.failInternal(c, err, true)
		return
	}
	switch err := s.opts.PayloadRefs.Verify(b.EnvName, runID, c.Request.URL.Query(), time.Now()); {
	case errors.Is(err, batch.ErrPayloadRefExpired):
		fail(c, http.StatusForbidden, "Payload reference expired: the attempt started after STREAMBATCH_PAYLOAD_REF_TTL; replay the run to dispatch it with a new one")
		return
	case err != nil:
		fail(c, http.StatusForbidden, refused)
		return
	}
	r, err := s.store.GetRun(ctx, batchID, index)
	if errors.Is(err, store.ErrNotFound) {
		fail(c, http.StatusNotFound, "Run "+runID+" not found")
		return
	}
	if err != nil {
		s.failInternal(c, err, true)
		return
	}
	if r.Status.Final() {
		fail(c, http.StatusGone, "Run "+runID+" is "+string(r.Status)+": its payload reference no longer serves")
		return
	}
	c.Header("Cache-Control", "no-store")
	if r.Payload == nil {
		c.Status(http.StatusOK)
		return
	}
	if r.PayloadType == batch.PayloadTypeStore {
		url, err := s.packets.PresignGet(ctx, *r.Payload, time.Hour)
		if err != nil {
			s.failInternal(c, err, true)
			return
		}
		c.Redirect(http.StatusTemporaryRedirect, url)
		return
	}
	typ := r.PayloadType
	if typ == "" {
		typ = batch.PayloadTypeJSON
	}
	c.Data(http.StatusOK, typ, []byte(*r.Payload))
}
