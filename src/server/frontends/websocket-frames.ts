/**
 * Just enough of RFC 6455 framing to end a tunnelled WebSocket properly:
 * gatehouse relays frames without reading them, but to send its own close
 * frame it must put it between two frames, never inside one. A
 * FrameBoundary follows the frame headers of one direction (a few bytes per
 * frame, nothing per payload byte) so it knows where the current frame ends.
 * Control frames may come between the fragments of a message (§5.4), so a
 * close frame is valid at any frame boundary.
 */
import { randomBytes } from 'node:crypto'

export class FrameBoundary {
  /** Payload bytes left in the current frame. */
  private remaining = 0
  /** Header bytes read so far, while a header is split across chunks. */
  private header: number[] = []

  /** Between two frames: a close frame may go here. */
  get atBoundary(): boolean {
    return this.remaining === 0 && this.header.length === 0
  }

  /** Follow `chunk` through. */
  feed(chunk: Uint8Array): void {
    this.consume(chunk, false)
  }

  /**
   * Follow `chunk` only up to the end of the current frame; returns how many
   * of its bytes belong to that frame (0 when already at a boundary).
   */
  untilBoundary(chunk: Uint8Array): number {
    return this.consume(chunk, true)
  }

  private consume(chunk: Uint8Array, stopAtBoundary: boolean): number {
    let i = 0
    while (i < chunk.length) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - i)
        this.remaining -= take
        i += take
        continue
      }
      if (stopAtBoundary && this.header.length === 0) return i
      this.header.push(chunk[i] as number)
      i++
      const len = this.headerLength()
      if (len !== undefined && this.header.length === len) {
        this.remaining = this.payloadLength()
        this.header = []
      }
    }
    return i
  }

  /** The whole header's length once its first two bytes are known. */
  private headerLength(): number | undefined {
    if (this.header.length < 2) return undefined
    const b1 = this.header[1] as number
    const len7 = b1 & 0x7f
    return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0)
  }

  private payloadLength(): number {
    const h = this.header
    const len7 = (h[1] as number) & 0x7f
    if (len7 < 126) return len7
    if (len7 === 126) return ((h[2] as number) << 8) | (h[3] as number)
    let n = 0
    for (let k = 2; k < 10; k++) n = n * 256 + (h[k] as number)
    return n
  }
}

/** WebSocket close code 1008: "policy violation", which is what an ended session is. */
export const CLOSE_POLICY_VIOLATION = 1008
/** 1001: going away (sent to the upstream: its client left). */
export const CLOSE_GOING_AWAY = 1001

/**
 * A close frame. `masked`: frames from a client (gatehouse towards the
 * upstream) must be masked (§5.3). The reason is cut to fit the 125-byte
 * control-frame payload.
 */
export function closeFrame(code: number, reason: string, masked: boolean): Buffer {
  // Cut whole characters: a reason that is not valid UTF-8 fails the connection (1007) instead.
  let r = reason
  while (Buffer.byteLength(r) > 123) r = [...r].slice(0, -1).join('')
  const text = Buffer.from(r, 'utf8')
  const payload = Buffer.alloc(2 + text.length)
  payload.writeUInt16BE(code, 0)
  text.copy(payload, 2)
  const head = Buffer.from([0x88, (masked ? 0x80 : 0) | payload.length])
  if (!masked) return Buffer.concat([head, payload])
  const key = randomBytes(4)
  for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (key[i % 4] as number)
  return Buffer.concat([head, key, payload])
}
