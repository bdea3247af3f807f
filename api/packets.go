package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/streambatch/streambatch/batch"
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

// presignPacket is PUT /api/v2/packets/<filename>: the trigger.dev SDK
// (≥ 4.5.2) asks for an upload URL for each payload of 128 KiB or more,
// PUTs the payload there, and sends the returned storagePath as an
// application/store item payload. The object lands under the caller's
// environment (packets/<env>/<filename>); a filename that could leave it is
// refused.
func (s *Server) presignPacket(c *gin.Context) {
	filename := strings.TrimPrefix(c.Param("filename"), "/")
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
	c.JSON(http.StatusOK, gin.H{"presignedUrl": url, "storagePath": filename})
}
