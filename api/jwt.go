package api

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
)

// tokenTTL is the lifetime of the public access tokens of Phase 1.
const tokenTTL = time.Hour

// setBatchToken sends the x-trigger-jwt header (an HS256 token scoped to
// reading one batch, which the trigger.dev SDK returns as publicAccessToken)
// and x-trigger-jwt-claims.
func (s *Server) setBatchToken(c *gin.Context, envID int64, batchID string) error {
	now := time.Now()
	sub := strconv.FormatInt(envID, 10)
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub":    sub,
		"pub":    true,
		"scopes": []string{"read:batch:" + batchID},
		"iat":    now.Unix(),
		"exp":    now.Add(tokenTTL).Unix(),
		"iss":    "streambatch",
	})
	signed, err := tok.SignedString(s.jwtSecret)
	if err != nil {
		return err
	}
	claims, _ := json.Marshal(map[string]any{"sub": sub, "pub": true})
	c.Header("x-trigger-jwt", signed)
	c.Header("x-trigger-jwt-claims", string(claims))
	return nil
}
