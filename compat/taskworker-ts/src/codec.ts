// The payload codec of streambatch (Go package codec) for the TypeScript
// SDK: AES-256-GCM over the whole Payload protobuf, the key named in the
// payload's metadata. STREAMBATCH_PAYLOAD_KEYS holds "id:base64-key" pairs;
// the first encrypts, every one decrypts; payloads that are not encrypted
// pass through.
import type { Payload, PayloadCodec } from "@temporalio/common";
import proto from "@temporalio/proto"; // CommonJS: default import

const { temporal } = proto;
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

const ENCODING = "binary/encrypted";
const KEY_ID = "encryption-key-id";
const NONCE = 12;
const TAG = 16;

export class StreambatchCodec implements PayloadCodec {
  private readonly keys = new Map<string, Buffer>();
  private readonly active: string;

  constructor(keySet: string) {
    const entries = keySet.split(",").map((e) => e.trim()).filter(Boolean);
    if (entries.length === 0) throw new Error("STREAMBATCH_PAYLOAD_KEYS is empty");
    for (const entry of entries) {
      const at = entry.indexOf(":");
      const key = Buffer.from(entry.slice(at + 1), "base64");
      if (at <= 0 || key.length !== 32) throw new Error(`payload key ${entry.slice(0, Math.max(at, 0))}: want id:base64 of 32 bytes`);
      this.keys.set(entry.slice(0, at), key);
    }
    this.active = entries[0].slice(0, entries[0].indexOf(":"));
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const key = this.keys.get(this.active)!;
    return payloads.map((p) => {
      const nonce = randomBytes(NONCE);
      const cipher = createCipheriv("aes-256-gcm", key, nonce);
      cipher.setAAD(Buffer.from(this.active));
      const plain = temporal.api.common.v1.Payload.encode(p).finish();
      const sealed = Buffer.concat([nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: { encoding: Buffer.from(ENCODING), [KEY_ID]: Buffer.from(this.active) },
        data: sealed,
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      if (Buffer.from(p.metadata?.encoding ?? []).toString() !== ENCODING) return p;
      const id = Buffer.from(p.metadata?.[KEY_ID] ?? []).toString();
      const key = this.keys.get(id);
      if (!key) throw new Error(`payload encrypted with key ${JSON.stringify(id)}, which STREAMBATCH_PAYLOAD_KEYS does not hold`);
      const data = Buffer.from(p.data ?? []);
      if (data.length < NONCE + TAG) throw new Error("encrypted payload too short");
      const decipher = createDecipheriv("aes-256-gcm", key, data.subarray(0, NONCE));
      decipher.setAAD(Buffer.from(id));
      decipher.setAuthTag(data.subarray(data.length - TAG));
      const plain = Buffer.concat([decipher.update(data.subarray(NONCE, data.length - TAG)), decipher.final()]);
      return temporal.api.common.v1.Payload.decode(plain) as Payload;
    });
  }
}
