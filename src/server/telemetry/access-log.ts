/**
 * The access log: one JSON line per request, the same shape pino writes
 * (`level`, `time`, the logger's bindings, the fields, `msg: "request"`), into
 * the same destination so that lines stay in order with the rest of the log.
 *
 * It is written by hand because it runs on every request: pino's generic path
 * walks the object, checks every key against the redaction paths and
 * stringifies field by field, which cost more CPU than the policy decision
 * and the session look-up together. Here the fields are fixed, strings are
 * escaped only when they hold a character JSON must escape, and the timestamp
 * is formatted once per millisecond. Nothing secret is ever passed in: the
 * path is cut at '?', the user is an email or subject.
 */
import pino, { type DestinationStream, type Logger } from 'pino'

export interface AccessEntry {
  readonly reqId: string
  readonly method: string | undefined
  readonly host: string | undefined
  /** Path without the query string. */
  readonly path: string
  readonly status: number
  readonly route: string | undefined
  readonly user: string | undefined
  readonly outcome: string | undefined
  readonly reason: string | undefined
  readonly upstreamMs: number | undefined
  readonly ms: number
  /** 'websocket' for an upgrade request. */
  readonly upgrade?: string | undefined
  /** The front end when it is not the reverse proxy (`forward_auth`). */
  readonly frontend?: string | undefined
}

export type AccessLog = (entry: AccessEntry) => void

// Any character JSON must escape, and lone surrogates (which JSON.stringify writes as \u escapes).
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/

/** A JSON string literal for s. */
export function jsonString(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000
}

export function createAccessLog(log: Logger): AccessLog {
  const holder = log as unknown as Record<symbol, unknown>
  const stream = holder[pino.symbols.streamSym] as DestinationStream
  // The logger's bindings, already serialised by pino: `,"svc":"gatehouse"` plus any child bindings.
  const bindings = String(holder[pino.symbols.chindingsSym] ?? '')
  let lastMs = 0
  let lastTime = ''
  return (e) => {
    if (!log.isLevelEnabled('info')) return
    const now = Date.now()
    if (now !== lastMs) {
      lastMs = now
      lastTime = new Date(now).toISOString()
    }
    let line = `{"level":"info","time":"${lastTime}"${bindings},"reqId":${jsonString(e.reqId)}`
    if (e.method !== undefined) line += `,"method":${jsonString(e.method)}`
    if (e.upgrade !== undefined) line += `,"upgrade":${jsonString(e.upgrade)}`
    if (e.frontend !== undefined) line += `,"frontend":${jsonString(e.frontend)}`
    if (e.host !== undefined) line += `,"host":${jsonString(e.host)}`
    line += `,"path":${jsonString(e.path)},"status":${e.status}`
    if (e.route !== undefined) line += `,"route":${jsonString(e.route)}`
    if (e.user !== undefined) line += `,"user":${jsonString(e.user)}`
    if (e.outcome !== undefined) line += `,"outcome":${jsonString(e.outcome)}`
    if (e.reason !== undefined) line += `,"reason":${jsonString(e.reason)}`
    if (e.upstreamMs !== undefined) line += `,"upstreamMs":${round3(e.upstreamMs)}`
    line += `,"ms":${round3(e.ms)},"msg":"request"}\n`
    stream.write(line)
  }
}
