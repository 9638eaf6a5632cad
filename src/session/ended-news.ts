/**
 * The news that sessions ended, for whoever holds something open for them
 * (a WebSocket, a streaming response). Told at once in this process, and
 * broadcast through the store to every other process that shares it (Redis
 * pub/sub; Postgres NOTIFY). A process that may have missed a broadcast (its
 * link to the store was down) hears `resync` and re-checks what it holds.
 */
import { randomBytes } from 'node:crypto'
import type { KeyValueStore } from './store.js'

/**
 * Sessions that ended: here (`local`), or in another process sharing the
 * store. `resync`: news may have been lost; check the sessions you hold.
 */
export type SessionsEnded = { readonly kind: 'ended'; readonly ids: readonly string[]; readonly local: boolean } | { readonly kind: 'resync' }

export interface EndedNews {
  announce(ids: readonly string[]): Promise<void>
  listen(listener: (event: SessionsEnded) => void): () => void
}

const MESSAGE = /^ended ([0-9a-f]+) ([0-9a-f,]+)$/
const IDS_PER_MESSAGE = 200

export function createEndedNews(store: KeyValueStore, onRemote: (ids: readonly string[]) => void): EndedNews {
  // Our own broadcasts come back to us: the origin tag tells them apart.
  const origin = randomBytes(6).toString('hex')
  const listeners = new Set<(event: SessionsEnded) => void>()
  function tell(event: SessionsEnded): void {
    for (const l of listeners) {
      try {
        l(event)
      } catch {
        // One listener's failure must not stop the others, or the revocation that told them.
      }
    }
  }
  store.subscribe?.((event) => {
    if (event.kind === 'resync') return tell(event)
    const m = MESSAGE.exec(event.message)
    if (m === null || m[1] === origin) return
    const ids = (m[2] as string).split(',').filter((x) => x !== '')
    onRemote(ids)
    tell({ kind: 'ended', ids, local: false })
  })
  return {
    async announce(ids) {
      if (ids.length === 0) return
      tell({ kind: 'ended', ids, local: true })
      if (store.broadcast === undefined) return
      for (let i = 0; i < ids.length; i += IDS_PER_MESSAGE) await store.broadcast(`ended ${origin} ${ids.slice(i, i + IDS_PER_MESSAGE).join(',')}`)
    },
    listen(listener) {
      listeners.add(listener)
      return () => void listeners.delete(listener)
    },
  }
}
