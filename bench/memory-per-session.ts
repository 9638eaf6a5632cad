// Resident memory per session with 100 000 sessions in the memory store, in a
// process of its own. Records are the size a real sign-in at the local IdP
// produces (passed in as JSON on argv).
import { randomBytes } from 'node:crypto'
import { createMemoryStore, createSessionManager } from '../src/session/index.js'

const sample = JSON.parse(process.argv[2] ?? '{}') as { idToken: string; accessToken: string; refreshToken: string }
const N = 100_000
// As gatehouse runs the memory store: no operator index (see SessionManagerOptions).
const store = createMemoryStore({ maxEntries: N * 3 })
const manager = createSessionManager({ store, cookieSecret: randomBytes(32), now: Date.now, ttlMs: 14 * 3600_000, cacheTtlMs: 0, operatorIndex: false })
const gc = (globalThis as { gc?: () => void }).gc
gc?.()
const m0 = process.memoryUsage()
const before = m0.rss
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
  if (i % 1000 === 0) cookies.push(cookieValue)
}
gc?.()
const m1 = process.memoryUsage()
const after = m1.rss
process.send?.({ bytesPerSession: (after - before) / N, heapBytesPerSession: (m1.heapUsed - m0.heapUsed) / N, sessions: N, kept: cookies.length })
