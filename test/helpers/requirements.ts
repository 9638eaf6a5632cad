/**
 * Optional suites: Redis and Chromium. On a fresh machine a suite whose
 * requirement is missing is skipped with a message saying why; in CI
 * (REQUIRE_REDIS=1 / REQUIRE_BROWSER=1) a missing requirement fails instead.
 */
import { existsSync } from 'node:fs'
import net from 'node:net'

export const REDIS_URL = process.env.GATEHOUSE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

function redisReachable(url: string): Promise<boolean> {
  const u = new URL(url)
  return new Promise((resolve) => {
    const socket = net.connect({ host: u.hostname, port: Number(u.port || 6379) })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1000, () => done(false))
    socket.once('error', () => done(false))
    socket.once('connect', () => {
      socket.write('PING\r\n')
      socket.once('data', (d) => done(d.toString().startsWith('+PONG')))
    })
  })
}

/** Top-level await in a test file: `const redis = await requireRedis()`, then `describe.skipIf(!redis)`. */
export async function requireRedis(): Promise<boolean> {
  const ok = await redisReachable(REDIS_URL)
  if (ok) return true
  if (process.env.REQUIRE_REDIS === '1') throw new Error(`REQUIRE_REDIS=1 but Redis is not reachable at ${REDIS_URL}`)
  console.warn(`[skipped] Redis suites: no Redis at ${REDIS_URL} (set REQUIRE_REDIS=1 to make this an error)`)
  return false
}

export function requireBrowser(): boolean {
  if (existsSync(CHROMIUM_PATH)) return true
  if (process.env.REQUIRE_BROWSER === '1') throw new Error(`REQUIRE_BROWSER=1 but Chromium is not at ${CHROMIUM_PATH} (install Debian's chromium package)`)
  console.warn(`[skipped] browser suites: no Chromium at ${CHROMIUM_PATH} (set REQUIRE_BROWSER=1 to make this an error)`)
  return false
}

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
]
