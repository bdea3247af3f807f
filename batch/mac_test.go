package batch

import (
	"errors"
	"testing"
)

func TestChunkSignerRefusesAnyChange(t *testing.T) {
	t.Parallel()
	s, err := NewChunkSigner("secret-secret-secret-secret-secret")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewChunkSigner("another-secret-another-secret-another")
	p := "payload"
	inline := ChunkRef{Stream: "s1", Seq: 2, Indexes: Ranges{{0, 2}}, Failed: []int{1}, Size: 40, PayloadBytes: 7,
		Items: []Item{{Index: 0, Task: "t", Payload: &p, PayloadType: "application/json"}, {Index: 1, Task: "t", ErrorCode: "X"}}}
	staged := ChunkRef{Stream: "s1", Seq: 3, Indexes: Ranges{{2, 4}}, Key: "staging/dev/b/s1-000003.json", Size: 5}
	body := []byte("hello")
	for _, c := range []struct {
		ref  ChunkRef
		body []byte
	}{{inline, nil}, {staged, body}} {
		ref := c.ref
		if err := s.Sign("b", "dev", &ref, c.body); err != nil {
			t.Fatal(err)
		}
		if err := s.Verify("b", "dev", &ref, c.body); err != nil {
			t.Fatalf("own signature: %v", err)
		}
		changes := map[string]func(r *ChunkRef) (string, string, []byte){
			"batch":   func(r *ChunkRef) (string, string, []byte) { return "b2", "dev", c.body },
			"env":     func(r *ChunkRef) (string, string, []byte) { return "b", "prod", c.body },
			"stream":  func(r *ChunkRef) (string, string, []byte) { r.Stream = "s2"; return "b", "dev", c.body },
			"seq":     func(r *ChunkRef) (string, string, []byte) { r.Seq++; return "b", "dev", c.body },
			"indexes": func(r *ChunkRef) (string, string, []byte) { r.Indexes = Ranges{{0, 3}}; return "b", "dev", c.body },
			"failed": func(r *ChunkRef) (string, string, []byte) {
				r.Failed = append(r.Failed[:len(r.Failed):len(r.Failed)], 3)
				return "b", "dev", c.body
			},
			"key":  func(r *ChunkRef) (string, string, []byte) { r.Key += "x"; return "b", "dev", c.body },
			"size": func(r *ChunkRef) (string, string, []byte) { r.Size++; return "b", "dev", c.body },
			"content": func(r *ChunkRef) (string, string, []byte) {
				if r.Key != "" {
					return "b", "dev", []byte("hellO")
				}
				q := "other tenant's key"
				r.Items = append([]Item(nil), r.Items...)
				r.Items[0].Payload, r.Items[0].PayloadType = &q, PayloadTypeStore
				return "b", "dev", nil
			},
			"mac": func(r *ChunkRef) (string, string, []byte) { r.MAC = ""; return "b", "dev", c.body },
		}
		for name, change := range changes {
			r := ref
			batchID, env, b := change(&r)
			if err := s.Verify(batchID, env, &r, b); !errors.Is(err, ErrChunkMAC) {
				t.Errorf("%s changed (key %q): %v, want ErrChunkMAC", name, ref.Key, err)
			}
		}
		if err := other.Verify("b", "dev", &ref, c.body); !errors.Is(err, ErrChunkMAC) {
			t.Errorf("another secret verifies: %v", err)
		}
		var none *ChunkSigner
		if err := none.Verify("b", "dev", &ref, c.body); !errors.Is(err, ErrChunkMAC) {
			t.Errorf("no signer verifies: %v", err)
		}
	}
}
