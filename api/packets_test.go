package api

import (
	"strings"
	"testing"

	"github.com/streambatch/streambatch/batch"
)

// An upload asked for with a public access token is bound to the batch the
// token may write: its storage path is under that batch's uploads folder,
// which is all the token's stream may reference. A token that
// writes no batch cannot upload; one that writes several must name the
// batch.
func TestUploadOfATokenIsBoundToItsBatch(t *testing.T) {
	t.Parallel()
	x, y := batch.NewBatchID(), batch.NewBatchID()
	cases := []struct {
		name     string
		scopes   []string
		filename string
		batch    string
		path     string
		problem  string
	}{
		{"SDK filename", []string{"read:batch:" + x, "write:batch:" + x}, "trigger/packet_1.json", x, "uploads/" + x + "/trigger/packet_1.json", ""},
		{"Go client filename", []string{"write:batch:" + x}, "uploads/" + x + "/item_0.json", x, "uploads/" + x + "/item_0.json", ""},
		{"another batch's folder", []string{"write:batch:" + x}, "uploads/" + y + "/item_0.json", x, "uploads/" + x + "/uploads/" + y + "/item_0.json", ""},
		{"two batches, named", []string{"write:batch:" + x, "write:batch:" + y}, "uploads/" + y + "/a.json", y, "uploads/" + y + "/a.json", ""},
		{"two batches, not named", []string{"write:batch:" + x, "write:batch:" + y}, "a.json", "", "", "name the batch"},
		{"read only", []string{"read:batch:" + x, "read:all"}, "a.json", "", "", "does not grant uploading"},
		{"malformed batch id", []string{"write:batch:../x"}, "a.json", "", "", "does not grant uploading"},
	}
	for _, c := range cases {
		id, path, problem := boundUpload(c.scopes, c.filename)
		if id != c.batch || path != c.path || (c.problem == "") != (problem == "") || !strings.Contains(problem, c.problem) {
			t.Errorf("%s: (%q, %q, %q), want (%q, %q, …%s…)", c.name, id, path, problem, c.batch, c.path, c.problem)
		}
		if path != "" && !batch.UploadedFor(id, path) {
			t.Errorf("%s: %s is not under %s", c.name, path, batch.UploadPrefix(id))
		}
	}
}
