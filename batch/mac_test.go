package batch

import (
	"encoding/base64"
	"errors"
	"strings"
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
		if ref.Key != "" {
			changes["digest"] = func(r *ChunkRef) (string, string, []byte) {
				r.Digest = ContentDigest([]byte("hellO"))
				return "b", "dev", []byte("hellO")
			}
		} else {
			changes["digest"] = func(r *ChunkRef) (string, string, []byte) {
				r.Digest = ContentDigest(nil)
				return "b", "dev", nil
			}
		}
		changes["version 1"] = func(r *ChunkRef) (string, string, []byte) {
			r.MAC = r.MAC[len(macV2Prefix):]
			return "b", "dev", c.body
		}
		for name, change := range changes {
			r := ref
			batchID, env, b := change(&r)
			want := ErrChunkMAC
			if name == "content" && ref.Key != "" {
				// The reference is genuine: only its staged object changed.
				want = ErrChunkContent
				if err := s.VerifyReference(batchID, env, &r); err != nil {
					t.Errorf("content changed: the reference alone does not verify: %v", err)
				}
			} else if err := s.VerifyReference(batchID, env, &r); !errors.Is(err, ErrChunkMAC) &&
				!(ref.Key != "" && !strings.HasPrefix(r.MAC, macV2Prefix) && errors.Is(err, ErrChunkNeedsContent)) {
				t.Errorf("%s changed (key %q): reference alone: %v, want ErrChunkMAC", name, ref.Key, err)
			}
			if err := s.Verify(batchID, env, &r, b); !errors.Is(err, want) {
				t.Errorf("%s changed (key %q): %v, want %v", name, ref.Key, err, want)
			}
		}
		if err := s.VerifyReference("b", "dev", &ref); err != nil {
			t.Errorf("own signature, reference alone: %v", err)
		}
		if err := other.Verify("b", "dev", &ref, c.body); !errors.Is(err, ErrChunkMAC) {
			t.Errorf("another secret verifies: %v", err)
		}
		if err := other.VerifyReference("b", "dev", &ref); !errors.Is(err, ErrChunkMAC) {
			t.Errorf("another secret verifies the reference: %v", err)
		}
		var none *ChunkSigner
		if err := none.Verify("b", "dev", &ref, c.body); !errors.Is(err, ErrChunkMAC) {
			t.Errorf("no signer verifies: %v", err)
		}
	}
}

// signV1 sets ref.MAC the way API replicas before signature version 2 did:
// a bare MAC over the reference and the staged object's bytes.
func (s *ChunkSigner) signV1(batchID, env string, ref *ChunkRef, staged []byte) error {
	sum, err := s.sum(batchID, env, ref, staged)
	if err != nil {
		return err
	}
	ref.Digest = ""
	ref.MAC = base64.RawURLEncoding.EncodeToString(sum)
	return nil
}

// A reference signed by an older API replica (version 1) still verifies
// with its staged bytes, so chunks in flight during a rolling upgrade go
// through; without them it cannot be told from a forgery
// (ErrChunkNeedsContent), and it does not pass for version 2.
func TestChunkSignerVerifiesVersion1(t *testing.T) {
	t.Parallel()
	s, err := NewChunkSigner("secret-secret-secret-secret-secret")
	if err != nil {
		t.Fatal(err)
	}
	p := "payload"
	inline := ChunkRef{Stream: "s1", Seq: 2, Indexes: Ranges{{0, 1}}, Size: 40,
		Items: []Item{{Index: 0, Task: "t", Payload: &p, PayloadType: "application/json"}}}
	staged := ChunkRef{Stream: "s1", Seq: 3, Indexes: Ranges{{2, 4}}, Key: "staging/dev/b/s1-000003.json", Size: 5}
	body := []byte("hello")
	for _, c := range []struct {
		ref  ChunkRef
		body []byte
	}{{inline, nil}, {staged, body}} {
		ref := c.ref
		if err := s.signV1("b", "dev", &ref, c.body); err != nil {
			t.Fatal(err)
		}
		if err := s.Verify("b", "dev", &ref, c.body); err != nil {
			t.Fatalf("key %q: version 1 signature refused: %v", ref.Key, err)
		}
		if err := s.Verify("b", "dev", &ref, []byte("hellO")); ref.Key != "" && !errors.Is(err, ErrChunkMAC) {
			t.Errorf("version 1, content changed: %v, want ErrChunkMAC", err)
		}
		err := s.VerifyReference("b", "dev", &ref)
		switch {
		case ref.Key == "" && err != nil:
			t.Errorf("version 1 inline reference: %v", err)
		case ref.Key != "" && !errors.Is(err, ErrChunkNeedsContent):
			t.Errorf("version 1 staged reference alone: %v, want ErrChunkNeedsContent", err)
		}
		asV2 := ref
		asV2.MAC = macV2Prefix + ref.MAC
		if ref.Key != "" {
			asV2.Digest = ContentDigest(c.body)
		}
		if err := s.Verify("b", "dev", &asV2, c.body); !errors.Is(err, ErrChunkMAC) {
			t.Errorf("key %q: a version 1 MAC passes for version 2: %v", ref.Key, err)
		}
		withDigest := ref
		withDigest.Digest = ContentDigest(c.body)
		if err := s.Verify("b", "dev", &withDigest, c.body); !errors.Is(err, ErrChunkMAC) {
			t.Errorf("key %q: a digest added to a version 1 reference: %v", ref.Key, err)
		}
	}
}
