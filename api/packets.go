package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/wire"
)

// Presigner issues presigned URLs: uploads of packets, downloads of stored
// payloads and outputs.
type Presigner interface {
	PresignPut(ctx context.Context, key string, ttl time.Duration) (string, error)
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// packetURLTTL is how long a presigned packet upload URL stays valid: the
// SDK uploads right after asking, so a leaked URL is useless soon.
const packetURLTTL = 10 * time.Minute

// uploadPathKey holds the storage path a public access token's upload is
// bound to (authenticateUpload).
const uploadPathKey = "streambatch.upload_path"

// presignPacket is PUT /api/v2/packets/<filename>: the trigger.dev SDK
// (≥ 4.5.2) asks for an upload URL for each payload of 128 KiB or more,
// PUTs the payload there, and sends the returned storagePath as an
// application/store item payload. The object lands under the caller's
// environment (packets/<env>/<filename>); a filename that could leave it is
// refused. With a public access token the storagePath is bound to the
// token's batch (authenticateUpload).
func (s *Server) presignPacket(c *gin.Context) {
	filename := strings.TrimPrefix(c.Param("filename"), "/")
	if bound := c.GetString(uploadPathKey); bound != "" {
		filename = bound
	}
	key, err := batch.StoreRefKey(envOf(c).Name, filename)
	if err != nil {
		fail(c, http.StatusBadRequest, "Invalid packet filename: use a relative path of at most 1024 bytes without '.', '..' or empty segments")
		return
	}
	url, err := s.packets.PresignPut(c.Request.Context(), key, packetURLTTL)
	if err != nil {
		s.failInternal(c, err, true)
		return
	}
	c.JSON(http.StatusOK, wire.Packet{PresignedURL: url, StoragePath: filename})
}

// authenticateUpload authenticates PUT /api/v2/packets/<filename>. An API
// key uploads anywhere in its environment. A public access token
// uploads only for a batch it may write (write:batch:<id>, a browser's
// token): the storage path becomes uploads/<id>/<filename> (kept as is when
// it names that folder already), so the token's stream, which may reference
// only that folder (ingest.Request.OwnUploadsOnly), can use it and the
// trigger.dev SDK, which sends the storagePath it is given, works
// unchanged. The batch must be PENDING: a finished batch takes no uploads.
func (s *Server) authenticateUpload(c *gin.Context) {
	t, token := s.keyOrToken(c)
	if !token {
		return
	}
	env := t.env
	batchID, path, problem := boundUpload(t.scopes, strings.TrimPrefix(c.Param("filename"), "/"))
	if problem != "" {
		fail(c, http.StatusForbidden, problem)
		return
	}
	b, ok := s.findBatch(c, env.ID, batchID, http.StatusNotFound)
	if !ok {
		return
	}
	if b.Status != batch.StatusPending {
		fail(c, http.StatusUnprocessableEntity, "Batch "+b.ID+" is not in PENDING status (current: "+string(b.Status)+"): it takes no more uploads")
		return
	}
	c.Set(envKey, env)
	c.Set(keyIDKey, int64(0))
	c.Set(uploadPathKey, path)
}

// boundUpload binds the upload of filename by a token with scopes to a
// batch the token may write: it returns the batch and the storage path
// (under batch.UploadPrefix), or what the client must change.
func boundUpload(scopes []string, filename string) (batchID, path, problem string) {
	var writable []string
	for _, sc := range scopes {
		if id, ok := strings.CutPrefix(sc, "write:batch:"); ok && batch.ValidBatchID(id) {
			if batch.UploadedFor(id, filename) {
				return id, filename, ""
			}
			writable = append(writable, id)
		}
	}
	switch len(writable) {
	case 0:
		return "", "", "The public access token does not grant uploading: only a token with write:batch:<id> may upload, for that batch (or use a secret API key)"
	case 1:
		return writable[0], batch.UploadPrefix(writable[0]) + filename, ""
	}
	return "", "", "The public access token may write several batches: name the batch in the filename (uploads/<batchId>/…)"
}
