package batch

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// Staged chunk objects hold their items in a compact binary form: JSON
// (the first format) cost the enqueue step more CPU to decode than the
// PostgreSQL insert that followed, for small items. The first byte tells the
// formats apart, so objects staged by an older version still decode.
const codecV1 = 0x01

var errCodec = errors.New("malformed chunk items")

// EncodeItems encodes items for a staged chunk object.
func EncodeItems(items []Item) []byte {
	n := 1 + binary.MaxVarintLen64
	for k := range items {
		it := &items[k]
		n += 6*binary.MaxVarintLen64 + len(it.Task) + len(it.PayloadType) + len(it.Options) + len(it.ErrorCode) + len(it.ErrorMessage) + 1
		if it.Payload != nil {
			n += len(*it.Payload)
		}
	}
	b := make([]byte, 0, n)
	b = append(b, codecV1)
	b = binary.AppendUvarint(b, uint64(len(items)))
	for k := range items {
		it := &items[k]
		b = binary.AppendUvarint(b, uint64(it.Index))
		b = appendString(b, it.Task)
		if it.Payload == nil {
			b = append(b, 0)
		} else {
			b = append(b, 1)
			b = appendString(b, *it.Payload)
		}
		b = appendString(b, it.PayloadType)
		b = binary.AppendUvarint(b, uint64(it.PacketSize))
		b = appendString(b, string(it.Options))
		b = appendString(b, it.ErrorCode)
		b = appendString(b, it.ErrorMessage)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// DecodeItems decodes a staged chunk object written by EncodeItems (or, from
// older versions, a JSON array of items).
func DecodeItems(data []byte) ([]Item, error) {
	if len(data) > 0 && data[0] == '[' {
		var items []Item
		if err := json.Unmarshal(data, &items); err != nil {
			return nil, fmt.Errorf("%w: %v", errCodec, err)
		}
		return items, nil
	}
	if len(data) == 0 || data[0] != codecV1 {
		return nil, fmt.Errorf("%w: unknown format", errCodec)
	}
	d := decoder{b: data[1:]}
	count := d.uvarint()
	if d.err != nil || count > uint64(len(d.b)) { // every item takes bytes
		return nil, fmt.Errorf("%w: item count", errCodec)
	}
	items := make([]Item, count)
	for k := range items {
		it := &items[k]
		it.Index = int(d.uvarint())
		it.Task = d.string()
		switch d.byte() {
		case 0:
		case 1:
			p := d.string()
			it.Payload = &p
		default:
			d.err = errCodec
		}
		it.PayloadType = d.string()
		it.PacketSize = int64(d.uvarint())
		if o := d.string(); o != "" {
			it.Options = json.RawMessage(o)
		}
		it.ErrorCode = d.string()
		it.ErrorMessage = d.string()
		if d.err != nil {
			return nil, fmt.Errorf("%w: item %d", errCodec, k)
		}
		if it.Index < 0 || it.Index > 1<<31-1 || it.PacketSize < 0 {
			return nil, fmt.Errorf("%w: item %d out of range", errCodec, k)
		}
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errCodec, len(d.b))
	}
	return items, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCodec
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errCodec
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errCodec
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
