import { Writable } from 'node:stream'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createAccessLog, jsonString, type AccessEntry } from '../../../src/server/telemetry/access-log.js'
import { createLogger } from '../../../src/server/telemetry/logger.js'

function capture(level: 'info' | 'warn' = 'info') {
  const lines: string[] = []
  const log = createLogger(level, new Writable({ write: (c: Buffer, _e, cb) => void (lines.push(c.toString()), cb()) }))
  return { log, lines, access: createAccessLog(log) }
}

const entry: AccessEntry = {
  reqId: 'r-1',
  method: 'GET',
  host: 'app.example.com',
  path: '/x',
  status: 200,
  route: 'app.example.com',
  user: 'alice@example.com',
  outcome: 'allow',
  reason: undefined,
  upstreamMs: 1.23456,
  ms: 2.5,
}

describe('access log', () => {
  it('writes the same shape pino writes: level, time, bindings first, msg last, one line', () => {
    const { log, lines, access } = capture()
    log.info({ reqId: 'r-0' }, 'request')
    access(entry)
    expect(lines).toHaveLength(2)
    const pinoLine = JSON.parse(lines[0] as string) as Record<string, unknown>
    const ours = JSON.parse(lines[1] as string) as Record<string, unknown>
    expect(Object.keys(ours).slice(0, 3)).toEqual(Object.keys(pinoLine).slice(0, 3))
    expect(Object.keys(ours).at(-1)).toBe('msg')
    expect(ours).toMatchObject({
      level: 'info',
      svc: 'gatehouse',
      reqId: 'r-1',
      method: 'GET',
      host: 'app.example.com',
      path: '/x',
      status: 200,
      route: 'app.example.com',
      user: 'alice@example.com',
      outcome: 'allow',
      upstreamMs: 1.235,
      ms: 2.5,
      msg: 'request',
    })
    expect(Number.isNaN(Date.parse(ours.time as string))).toBe(false)
    expect(ours).not.toHaveProperty('reason')
    expect((lines[1] as string).endsWith('}\n')).toBe(true)
  })

  it('writes nothing when the level is above info', () => {
    const { lines, access } = capture('warn')
    access(entry)
    expect(lines).toEqual([])
  })

  it('any host, path, user or reason a client can send comes back unchanged from one JSON line', () => {
    const { lines, access } = capture()
    const text = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('"}\n{"level":"fatal"', '\\', '\u2028', '\ud800', '\u0000'))
    fc.assert(
      fc.property(text, text, text, text, (host, path, user, reason) => {
        lines.length = 0
        access({ ...entry, host, path, user, reason })
        expect(lines).toHaveLength(1)
        const line = lines[0] as string
        expect(line.indexOf('\n')).toBe(line.length - 1)
        const parsed = JSON.parse(line) as Record<string, unknown>
        expect(parsed).toMatchObject({ host, path, user, reason, msg: 'request' })
      }),
    )
  })

  it('jsonString is JSON.stringify for every string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(jsonString(s)).toBe(JSON.stringify(s))
      }),
    )
  })
})
