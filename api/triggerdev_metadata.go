package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store"
)

// A run's metadata outside the run (ApiClient.getRunMetadata and
// updateRunMetadata): the object its item's options.metadata holds.

// errMetadataFinal refuses a metadata update of a finished run.
var errMetadataFinal = errors.New("finished")

// metadataOp is one RunMetadataChangeOperation.
type metadataOp struct {
	Type  string          `json:"type"`
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

// tdGetMetadata is GET /api/v1/runs/:runId/metadata: {metadata}, {} for a
// run without.
func (s *Server) tdGetMetadata(c *gin.Context) {
	_, r, ok := s.runOfRequest(c)
	if !ok {
		return
	}
	meta := batch.StoredItemOptions(r.Options).Metadata
	if len(meta) == 0 || meta[0] != '{' {
		meta = json.RawMessage(`{}`)
	}
	c.JSON(http.StatusOK, gin.H{"metadata": meta})
}

// tdUpdateMetadata is PUT /api/v1/runs/:runId/metadata (FlushedRunMetadata:
// {metadata, operations}): metadata, when given, replaces the run's; then
// the operations (set, delete, append, remove, increment, update) apply in
// order, as trigger.dev applies them, to top-level keys (a "$." JSON path
// key is refused). The answer is {metadata}; a finished run's metadata
// does not change (422).
func (s *Server) tdUpdateMetadata(c *gin.Context) {
	body, ok := readRunChangeBody(c)
	if !ok {
		return
	}
	var replace map[string]json.RawMessage
	if raw, ok := body["metadata"]; ok && string(raw) != "null" {
		if json.Unmarshal(raw, &replace) != nil {
			fail(c, http.StatusBadRequest, "metadata must be a JSON object")
			return
		}
	}
	var ops []metadataOp
	if raw, ok := body["operations"]; ok && string(raw) != "null" {
		if json.Unmarshal(raw, &ops) != nil {
			fail(c, http.StatusBadRequest, "operations must be an array of metadata operations")
			return
		}
	}
	for k, raw := range body {
		if (k == "parentOperations" || k == "rootOperations") && (string(raw) == "[]" || string(raw) == "null") {
			continue // nothing to do
		}
		if k != "metadata" && k != "operations" {
			fail(c, http.StatusBadRequest, truncate(k, 64)+" is not supported: a run outside a task has no parent or root run")
			return
		}
	}
	for i, op := range ops {
		if msg := checkMetadataOp(op); msg != "" {
			fail(c, http.StatusBadRequest, "operations["+strconv.Itoa(i)+"]: "+msg)
			return
		}
	}
	b, r, ok := s.runOfRequest(c)
	if !ok {
		return
	}
	out, err := s.store.UpdateRunMetadata(c.Request.Context(), b.ID, r.Index, func(old json.RawMessage, st batch.RunStatus) (json.RawMessage, error) {
		if st.Final() {
			return nil, errMetadataFinal
		}
		meta := map[string]json.RawMessage{}
		if replace != nil {
			meta = replace
		} else if len(old) > 0 && old[0] == '{' {
			if err := json.Unmarshal(old, &meta); err != nil {
				return nil, err
			}
		}
		for _, op := range ops {
			meta = applyMetadataOp(meta, op)
		}
		return json.Marshal(meta)
	})
	switch {
	case errors.Is(err, errMetadataFinal):
		fail(c, http.StatusUnprocessableEntity, "Run "+r.ID+" has finished: its metadata no longer changes")
		return
	case errors.Is(err, store.ErrNotFound):
		fail(c, http.StatusNotFound, "Run "+r.ID+" not found")
		return
	case err != nil:
		s.failInternal(c, err, true)
		return
	}
	c.JSON(http.StatusOK, gin.H{"metadata": out})
}

// checkMetadataOp says what is wrong with op ("" when nothing).
func checkMetadataOp(op metadataOp) string {
	switch op.Type {
	case "update":
		if len(op.Value) == 0 || op.Value[0] != '{' || !json.Valid(op.Value) {
			return "update needs an object value"
		}
		return ""
	case "set", "delete", "append", "remove", "increment":
	default:
		return strconv.Quote(truncate(op.Type, 64)) + " is not a metadata operation"
	}
	switch {
	case op.Key == "":
		return op.Type + " needs a key"
	case strings.HasPrefix(op.Key, "$."):
		return "JSON path keys are not supported: use a top-level key"
	case op.Key == "__proto__":
		return "the key may not be __proto__"
	case op.Type == "delete":
		return ""
	case len(op.Value) == 0 || !json.Valid(op.Value):
		return op.Type + " needs a JSON value"
	case op.Type == "increment":
		var f float64
		if json.Unmarshal(op.Value, &f) != nil {
			return "increment needs a number"
		}
	}
	return ""
}

// applyMetadataOp applies a checked op to meta (applyMetadataOperations of
// @trigger.dev/core, for top-level keys); an op that cannot apply, such as
// remove from a value that is not an array, changes nothing.
func applyMetadataOp(meta map[string]json.RawMessage, op metadataOp) map[string]json.RawMessage {
	cur, has := meta[op.Key]
	switch op.Type {
	case "set":
		meta[op.Key] = op.Value
	case "delete":
		delete(meta, op.Key)
	case "append":
		var arr []json.RawMessage
		switch {
		case !has:
			arr = []json.RawMessage{op.Value}
		case json.Unmarshal(cur, &arr) == nil && bytes.HasPrefix(bytes.TrimSpace(cur), []byte("[")):
			arr = append(arr, op.Value)
		default:
			arr = []json.RawMessage{cur, op.Value}
		}
		meta[op.Key], _ = json.Marshal(arr)
	case "remove":
		var arr []json.RawMessage
		if !has || json.Unmarshal(cur, &arr) != nil || arr == nil {
			return meta
		}
		kept := []json.RawMessage{}
		for _, v := range arr {
			if !jsonEqual(v, op.Value) {
				kept = append(kept, v)
			}
		}
		meta[op.Key], _ = json.Marshal(kept)
	case "increment":
		var n, by float64
		_ = json.Unmarshal(op.Value, &by)
		if has && json.Unmarshal(cur, &n) != nil {
			n = 0
		}
		meta[op.Key], _ = json.Marshal(n + by)
	case "update":
		out := map[string]json.RawMessage{}
		_ = json.Unmarshal(op.Value, &out)
		return out
	}
	return meta
}

// jsonEqual reports whether two JSON values are deeply equal.
func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
