/**
 * The byte tunnel between a client's WebSocket and the upstream's, after
 * both sides agreed to upgrade. Bytes are relayed as they come (with
 * back-pressure); only frame headers are followed, so that `close(reason)`
 * can end the tunnel the way the protocol wants: at the next frame boundary
 * the client gets a close frame (1008 and the reason) and the upstream a
 * close frame of its own (1001, its client went away), then both sockets end.
 */
import type { Duplex } from 'node:stream'
import { CLOSE_GOING_AWAY, CLOSE_POLICY_VIOLATION, closeFrame, FrameBoundary } from './websocket-frames.js'

export interface Tunnel {
  /** End the tunnel: `code` (default 1008) with `reason` to the client, 1001 to the upstream. Idempotent. */
  close(reason: string, code?: number): void
}

/** How long a close waits for a frame in progress to finish before cutting both sockets. */
const CLOSE_GRACE_MS = 2000

interface Direction {
  readonly from: Duplex
  readonly to: Duplex
  readonly frames: FrameBoundary
  /** The close frame to send `to` once `from`'s current frame is through; then stop relaying. */
  pendingClose: Buffer | undefined
  done: boolean
}

export function openTunnel(client: Duplex, upstream: Duplex, opts: { clientHead: Buffer; upstreamHead: Buffer }, onClosed: () => void): Tunnel {
  const down: Direction = { from: upstream, to: client, frames: new FrameBoundary(), pendingClose: undefined, done: false }
  const up: Direction = { from: client, to: upstream, frames: new FrameBoundary(), pendingClose: undefined, done: false }
  let closing = false
  let finished = false

  const finish = (): void => {
    if (finished) return
    finished = true
    client.destroy()
    upstream.destroy()
    onClosed()
  }

  function sendClose(d: Direction): void {
    if (d.done || d.pendingClose === undefined) return
    d.done = true
    if (!d.to.destroyed) d.to.end(d.pendingClose)
    d.pendingClose = undefined
    if (down.done && up.done) {
      // Both close frames are out; give the peers a moment to answer, then cut.
      const t = setTimeout(finish, CLOSE_GRACE_MS)
      t.unref()
    }
  }

  function relay(d: Direction, chunk: Buffer): void {
    if (d.done) return
    if (d.pendingClose !== undefined) {
      // Closing: pass on only the rest of the frame in progress, then the close frame.
      const n = d.frames.untilBoundary(chunk)
      if (n > 0) d.to.write(chunk.subarray(0, n))
      if (d.frames.atBoundary) sendClose(d)
      return
    }
    d.frames.feed(chunk)
    if (!d.to.write(chunk)) {
      d.from.pause()
      d.to.once('drain', () => d.from.resume())
    }
  }

  if (opts.upstreamHead.length > 0) relay(down, opts.upstreamHead)
  if (opts.clientHead.length > 0) relay(up, opts.clientHead)
  upstream.on('data', (c: Buffer) => relay(down, c))
  client.on('data', (c: Buffer) => relay(up, c))
  upstream.on('error', finish)
  client.on('error', finish)
  upstream.on('close', finish)
  client.on('close', finish)
  upstream.on('end', () => (closing ? undefined : client.end()))
  client.on('end', () => (closing ? undefined : upstream.end()))

  return {
    close(reason, code = CLOSE_POLICY_VIOLATION) {
      if (closing || finished) return
      closing = true
      down.pendingClose = closeFrame(code, reason, false)
      up.pendingClose = closeFrame(CLOSE_GOING_AWAY, 'the client session ended', true)
      for (const d of [down, up]) if (d.frames.atBoundary) sendClose(d)
      // A frame that never finishes (a stalled peer) must not keep the tunnel open.
      const t = setTimeout(finish, CLOSE_GRACE_MS)
      t.unref()
      // Paused sources still have to deliver the end of their frame.
      down.from.resume()
      up.from.resume()
    },
  }
}
