import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import type { EventEmitter } from 'node:events'
import * as ws from 'ws'
import { closeFrame, FrameBoundary } from '../../../src/server/frontends/websocket-frames.js'

/** One frame as RFC 6455 lays it out: 7-bit, 16-bit or 64-bit length, masked or not. */
function frame(payloadLength: number, masked: boolean, opcode = 0x2): Buffer {
  const len =
    payloadLength < 126
      ? [payloadLength]
      : payloadLength < 65536
        ? [126, payloadLength >> 8, payloadLength & 0xff]
        : [127, 0, 0, 0, 0, 0, (payloadLength >> 16) & 0xff, (payloadLength >> 8) & 0xff, payloadLength & 0xff]
  const head = Buffer.from([0x80 | opcode, (masked ? 0x80 : 0) | (len[0] as number), ...len.slice(1)])
  return Buffer.concat([head, masked ? Buffer.from([1, 2, 3, 4]) : Buffer.alloc(0), Buffer.alloc(payloadLength, 7)])
}

describe('FrameBoundary', () => {
  it('finds every frame end however the stream is cut into chunks', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ len: fc.oneof(fc.integer({ min: 0, max: 125 }), fc.integer({ min: 126, max: 70_000 })), masked: fc.boolean() }), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.array(fc.integer({ min: 1, max: 9000 }), { minLength: 1, maxLength: 40 }),
        (frames, cuts) => {
          const bytes = Buffer.concat(frames.map((f) => frame(f.len, f.masked)))
          const ends = new Set<number>()
          let at = 0
          for (const f of frames) ends.add((at += frame(f.len, f.masked).length))
          // Walk the stream chunk by chunk, asking at each chunk where the current frame ends.
          const fb = new FrameBoundary()
          let pos = 0
          let i = 0
          while (pos < bytes.length) {
            const chunk = bytes.subarray(pos, pos + (cuts[i++ % cuts.length] as number))
            const n = fb.untilBoundary(chunk)
            if (fb.atBoundary) expect(pos + n === 0 || ends.has(pos + n)).toBe(true)
            else expect(n).toBe(chunk.length)
            // Continue through the rest of the chunk as a relay would.
            fb.feed(chunk.subarray(n))
            pos += chunk.length
          }
          expect(fb.atBoundary).toBe(true)
        },
      ),
      { numRuns: 200 },
    )
  })

  it('is mid-frame inside a header or a payload, and between frames only at their ends', () => {
    const fb = new FrameBoundary()
    const f = frame(300, false)
    fb.feed(f.subarray(0, 1))
    expect(fb.atBoundary).toBe(false)
    fb.feed(f.subarray(1, 10))
    expect(fb.atBoundary).toBe(false)
    expect(fb.untilBoundary(Buffer.concat([f.subarray(10), frame(5, false)]))).toBe(f.length - 10)
    expect(fb.atBoundary).toBe(true)
  })
})

// ws's frame parser (exported at run time, not in its type declarations).
const { Receiver } = ws as unknown as { Receiver: new (o: { isServer: boolean }) => EventEmitter & { write(b: Buffer): void } }

describe('closeFrame', () => {
  for (const masked of [false, true]) {
    it(`is a close frame a WebSocket peer reads (${masked ? 'masked, to the upstream' : 'unmasked, to the client'}), with a reason cut on a character boundary`, async () => {
      const receiver = new Receiver({ isServer: masked })
      const got = new Promise<[number, string]>((resolve) => receiver.on('conclude', (code: number, reason: Buffer) => resolve([code, reason.toString()])))
      const reason = 'é'.repeat(100)
      receiver.write(closeFrame(1008, reason, masked))
      const [code, text] = await got
      expect(code).toBe(1008)
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(123)
      expect(reason.startsWith(text)).toBe(true)
    })
  }
})
