// Resident memory per session with 100 000 sessions in the memory store, in a
// process of its own. Records are the size a real sign-in at the local IdP
// produces (passed in as JSON on argv).
//
// What is measured is the marginal cost of a session: the process first
// creates 100 000 sessions and keeps them (a busy process's young generation
// and allocator arenas grow to their working size once, whatever the number of
// sessions), then the resident size is taken, 100 000 more are created and
// kept, and it is taken again. Every session must still load at the end (a
// store that lost its sessions would look cheap). The count from a fresh
// process, one-time growth included, is reported beside it.
import { randomBytes } from 'node:crypto'
import { createMemoryStore, createSessionManager } from '../src/session/index.js'

const sample = JSON.parse(process.argv[2] ?? '{}') as { idToken: string; accessToken: string; refreshToken: string }
const N = 100_000
// As gatehouse runs the memory store: no operator index (see SessionManagerOptions). Each session
// takes up to four entries (the record, its refresh token, the by-subject and by-email indexes):
// room for all 2 × N, so that eviction never stands in for a small footprint.
const store = createMemoryStore({ maxEntries: N * 2 * 4 })
const manager = createSessionManager({ store, cookieSecret: randomBytes(32), now: Date.now, ttlMs: 14 * 3600_000, cacheTtlMs: 0, operatorIndex: false })
const gc = (globalThis as { gc?: () => void }).gc
const settle = (): NodeJS.MemoryUsage => {
  gc?.()
  gc?.()
  return process.memoryUsage()
}

async function fill(sampleEvery: number): Promise<string[]> {
  const cookies: string[] = []
  for (let i = 0; i < N; i++) {
    const { cookieValue } = await manager.create({
      sub: `00u${i.toString().padStart(17, '0')}`,
      email: `user${i}@example.com`,
      name: `User ${i}`,
      groups: ['eng', 'everyone'],
      claims: { email_verified: true, preferred_username: `user${i}@example.com` },
      idToken: sample.idToken,
      accessToken: sample.accessToken,
      refreshToken: sample.refreshToken,
      idTokenExpiresAtMs: Date.now() + 3600_000,
    })
    if (i % sampleEvery === 0) cookies.push(cookieValue)
  }
  return cookies
}

const cold = settle()
const first = await fill(1000)
const m0 = settle()
const second = await fill(1000)
const m1 = settle()
let live = 0
for (const c of [...first, ...second]) if ((await manager.load(c)) !== undefined) live++
if (live !== first.length + second.length) throw new Error(`the store lost sessions: ${live} of ${first.length + second.length} sampled sessions load`)
process.send?.({
  bytesPerSession: (m1.rss - m0.rss) / N,
  heapBytesPerSession: (m1.heapUsed - m0.heapUsed) / N,
  coldBytesPerSession: (m0.rss - cold.rss) / N,
  sessions: N,
})
