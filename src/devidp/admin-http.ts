/**
 * The admin surface over HTTP, for tests in another process (and for a
 * person poking at the demo): `POST /devidp/admin/{name}` with a JSON body
 * `{"args": [...]}` calls the function of that name and answers
 * `{"result": …}`, or 400 with the problem. Loopback only, as the IdP is.
 */
import type http from 'node:http'
import type { DevIdpAdmin } from './admin.js'
import { readBody, sendJson } from './http.js'

export const ADMIN_PREFIX = '/devidp/admin/'

export async function adminHttp(admin: DevIdpAdmin, name: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  if (req.method !== 'POST') return sendJson(res, 405, { error: 'use POST with {"args": [...]}' })
  const fn = Object.hasOwn(admin, name) ? (admin as unknown as Record<string, unknown>)[name] : undefined
  if (typeof fn !== 'function') return sendJson(res, 404, { error: `no admin function "${name}"`, functions: Object.keys(admin) })
  let args: unknown[]
  try {
    const body = JSON.parse((await readBody(req)) || '{}') as { args?: unknown }
    args = Array.isArray(body.args) ? body.args : []
  } catch {
    return sendJson(res, 400, { error: 'the body must be JSON: {"args": [...]}' })
  }
  try {
    const result: unknown = await (fn as (...a: unknown[]) => unknown)(...args)
    sendJson(res, 200, { result: result ?? null })
  } catch (err) {
    sendJson(res, 400, { error: err instanceof Error ? err.message : String(err) })
  }
}
