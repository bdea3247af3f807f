package batch

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func sampleItems() []Item {
	p, key := `{"json":{"a":"é\n"}}`, "packets/dev/b/item_2/payload.json"
	return []Item{
		{Index: 0, Task: "email", Payload: &p, PayloadType: "application/super+json", Options: json.RawMessage(`{"tags":["x"]}`)},
		{Index: 1, Task: "t", PayloadType: PayloadTypeJSON},
		{Index: 2, Task: "big", Payload: &key, PayloadType: PayloadTypeStore, PacketSize: 600 << 10},
		{Index: 1 << 30, Task: "huge", PayloadType: PayloadTypeJSON, ErrorCode: ErrorPayloadTooLarge, ErrorMessage: "too large"},
	}
}

func TestCodecRoundTrip(t *testing.T) {
	t.Parallel()
	in := sampleItems()
	out, err := DecodeItems(EncodeItems(in))
	if err != nil || !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip: %v\n%+v\n%+v", err, in, out)
	}
	if out, err := DecodeItems(EncodeItems(nil)); err != nil || len(out) != 0 {
		t.Fatalf("empty: %v %v", out, err)
	}
	// Objects staged as JSON by an older version still decode.
	raw, _ := json.Marshal(in)
	if out, err := DecodeItems(raw); err != nil || !reflect.DeepEqual(in, out) {
		t.Fatalf("json: %v", err)
	}
}

func TestCodecRefusesDamage(t *testing.T) {
	t.Parallel()
	enc := EncodeItems(sampleItems())
	for _, bad := range [][]byte{nil, {0x7f}, enc[:len(enc)-1], append(append([]byte{}, enc...), 0), {codecV1, 0xff, 0xff, 0xff}, []byte("[{")} {
		if _, err := DecodeItems(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func FuzzDecodeItems(f *testing.F) {
	f.Add(EncodeItems(sampleItems()))
	f.Add([]byte(`[{"i":1,"t":"x"}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		items, err := DecodeItems(data)
		if err != nil || (len(data) > 0 && data[0] == '[') {
			return
		}
		// What decodes survives a round trip unchanged.
		again, err := DecodeItems(EncodeItems(items))
		if err != nil || !reflect.DeepEqual(again, items) {
			t.Fatalf("round trip of %q: %v", data, err)
		}
	})
}

func BenchmarkCodec(b *testing.B) {
	items := make([]Item, 5000)
	for i := range items {
		p := `{"json":{"user":1,"note":"` + strings.Repeat("n", 200) + `"}}`
		items[i] = Item{Index: i, Task: "email", Payload: &p, PayloadType: "application/super+json", Options: json.RawMessage(`{"tags":["a"]}`)}
	}
	bin := EncodeItems(items)
	js, _ := json.Marshal(items)
	b.Run("binary/encode", func(b *testing.B) {
		b.SetBytes(int64(len(bin)))
		for b.Loop() {
			EncodeItems(items)
		}
	})
	b.Run("binary/decode", func(b *testing.B) {
		b.SetBytes(int64(len(bin)))
		for b.Loop() {
			if _, err := DecodeItems(bin); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json/encode", func(b *testing.B) {
		b.SetBytes(int64(len(js)))
		for b.Loop() {
			json.Marshal(items)
		}
	})
	b.Run("json/decode", func(b *testing.B) {
		b.SetBytes(int64(len(js)))
		for b.Loop() {
			if _, err := DecodeItems(js); err != nil {
				b.Fatal(err)
			}
		}
	})
}
