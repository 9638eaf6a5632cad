/**
 * Groups from Okta's API, for users whose token cannot be trusted to list them
 * all (no groups claim, or a list at the cap of 100), or for everyone when
 * configured. `GET /api/v1/users/{id}/groups?limit=200`, every
 * `Link: <…>; rel="next"` followed (on the org's own origin only), names from
 * `profile.name` as a groups claim carries them.
 *
 * Each user's list is kept in the session store (so replicas share it) for
 * `idp_refresh_directory_interval`; an older list is still used while a
 * background read replaces it, and a user is never read twice at once. Okta's
 * rate limits are honoured with one back-off for the whole org: slow down as
 * `X-Rate-Limit-Remaining` runs out, and after a 429 wait for
 * `X-Rate-Limit-Reset`, within `idp_refresh_directory_timeout`. A read that
 * fails leaves the groups unknown, with the reason (see completeGroups).
 */
import type { DirectoryConfig } from '../config/types.js'
import type { Identity, UnknownFacts } from '../policy/types.js'
import { createDirectoryAuth, DirectoryFailure, type DirectoryAuth } from './directory-credential.js'
import type { FetchLike } from './key-set.js'

/** The part of the session store the directory needs (KeyValueStore fits). */
export interface DirectoryCache {
  get(key: string): Promise<Uint8Array | undefined>
  set(key: string, value: Uint8Array, ttlMs: number): Promise<void>
}

export interface DirectoryDeps {
  readonly fetch?: FetchLike
  readonly now?: () => number
  readonly cache: DirectoryCache
  /** Waits for a rate-limit reset; injected so tests can see the wait without sleeping. */
  readonly wait?: (ms: number, signal: AbortSignal) => Promise<void>
  readonly onRead?: (result: 'ok' | 'error' | 'rate_limited') => void
  readonly log?: { warn(obj: object, msg: string): void }
}

export type DirectoryAnswer = { readonly ok: true; readonly groups: readonly string[] } | { readonly ok: false; readonly reason: string }

export interface Directory {
  readonly lookup: DirectoryConfig['lookup']
  /** A user's group names (by Okta user id). Never rejects. */
  groupsOf(userId: string): Promise<DirectoryAnswer>
  /** One authenticated call, for `check --online`. */
  probe(): Promise<{ readonly ok: true; readonly detail: string } | { readonly ok: false; readonly reason: string }>
}

const PAGE_LIMIT = 200
/** 200 × 50 = 10,000 groups: past that something is wrong. */
const MAX_PAGES = 50
const STALE_FACTOR = 3

function defaultWait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = (): void => {
      clearTimeout(t)
      reject(signal.reason)
    }
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/** The `rel="next"` target of a Link header, if any. */
export function nextLink(header: string | null): string | undefined {
  if (header === null) return undefined
  for (const part of header.split(',')) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part)
    if (m !== null && /(^|;)\s*rel\s*=\s*"?next"?\s*(;|$)/i.test(m[2] ?? '')) return m[1]
  }
  return undefined
}

function groupNames(body: unknown): string[] | undefined {
  if (!Array.isArray(body)) return undefined
  const out: string[] = []
  for (const g of body) {
    const name = (g as { profile?: { name?: unknown } } | null)?.profile?.name
    if (typeof name === 'string') out.push(name)
  }
  return out
}

interface Cached {
  readonly g: readonly string[]
  readonly at: number
}

export function createDirectory(config: DirectoryConfig, deps: DirectoryDeps): Directory {
  const fetchImpl: FetchLike = deps.fetch ?? ((input, init) => fetch(input, init))
  const now = deps.now ?? Date.now
  const wait = deps.wait ?? defaultWait
  const auth: DirectoryAuth = createDirectoryAuth(config.credential, config.orgUrl, { fetch: fetchImpl, now })
  const origin = new URL(config.orgUrl).origin
  const keyPrefix = `dir:${new URL(config.orgUrl).host}:`
  const inflight = new Map<string, Promise<DirectoryAnswer>>()
  // One back-off for the whole org: no request before this time.
  let notBeforeMs = 0

  function noteLimits(res: Response): void {
    const remaining = Number(res.headers.get('x-rate-limit-remaining'))
    const limit = Number(res.headers.get('x-rate-limit-limit'))
    const resetMs = Number(res.headers.get('x-rate-limit-reset')) * 1000
    if (!Number.isFinite(remaining) || !Number.isFinite(resetMs) || resetMs <= 0 || res.headers.get('x-rate-limit-remaining') === null) return
    const t = now()
    if (res.status === 429 || remaining <= 0) notBeforeMs = Math.max(notBeforeMs, resetMs)
    else if (Number.isFinite(limit) && limit > 0 && remaining < limit * 0.1 && resetMs > t) {
      // Near the limit: spread what is left over the rest of the window.
      notBeforeMs = Math.max(notBeforeMs, t + (resetMs - t) / remaining)
    }
  }

  async function call(url: string, signal: AbortSignal): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const delay = notBeforeMs - now()
      if (delay > 0) {
        deps.onRead?.('rate_limited')
        try {
          await wait(delay, signal)
        } catch {
          throw new DirectoryFailure(
            `the directory was unreachable: Okta's rate limit resets at ${new Date(notBeforeMs).toISOString()}, after idp_refresh_directory_timeout`,
          )
        }
      }
      let res: Response
      try {
        res = await fetchImpl(url, { headers: { authorization: await auth.header(signal), accept: 'application/json' }, signal })
      } catch (cause) {
        if (cause instanceof DirectoryFailure) throw cause
        throw new DirectoryFailure(
          signal.aborted
            ? 'the directory was unreachable (no answer within idp_refresh_directory_timeout)'
            : "the directory was unreachable (Okta's API did not answer)",
          { cause },
        )
      }
      noteLimits(res)
      if (res.status === 429 && attempt < 3) {
        await res.body?.cancel()
        if (notBeforeMs <= now()) notBeforeMs = now() + 1000
        continue
      }
      if (res.status === 401 && attempt === 0 && config.credential.kind === 'service_app') {
        // The service-app token may have been revoked or expired early: get a new one, once.
        await res.body?.cancel()
        auth.forget()
        continue
      }
      return res
    }
  }

  async function readGroups(userId: string): Promise<readonly string[]> {
    const signal = AbortSignal.timeout(config.timeoutMs)
    let url: string | undefined = `${origin}/api/v1/users/${encodeURIComponent(userId)}/groups?limit=${PAGE_LIMIT}`
    const names: string[] = []
    for (let page = 0; url !== undefined; page++) {
      if (page >= MAX_PAGES) throw new DirectoryFailure(`the directory listed more than ${MAX_PAGES * PAGE_LIMIT} groups; refusing to read further`)
      const res = await call(url, signal)
      if (!res.ok) {
        const body = (await res.json().catch(() => undefined)) as { errorSummary?: unknown } | undefined
        const summary = typeof body?.errorSummary === 'string' ? `: ${body.errorSummary.slice(0, 200)}` : ''
        if (res.status === 401 || res.status === 403)
          throw new DirectoryFailure(
            `the directory refused gatehouse's credential (HTTP ${res.status}${summary}); it needs okta.groups.read and okta.users.read, or an API token of a read-only admin`,
          )
        if (res.status === 404) throw new DirectoryFailure(`the directory does not know the user ${userId.slice(0, 64)} (HTTP 404)`)
        throw new DirectoryFailure(`the directory was unreachable (HTTP ${res.status}${summary})`)
      }
      const batch = groupNames(await res.json().catch(() => undefined))
      if (batch === undefined) throw new DirectoryFailure('the directory sent something that is not a list of groups')
      names.push(...batch)
      const next = nextLink(res.headers.get('link'))
      if (next !== undefined) {
        let target: URL
        try {
          target = new URL(next, url)
        } catch {
          throw new DirectoryFailure('the directory sent a malformed next-page link')
        }
        // Never send the credential anywhere but the org.
        if (target.origin !== origin) throw new DirectoryFailure('the directory sent a next-page link off the Okta org; refusing to follow it')
        url = target.href
      } else url = undefined
    }
    return names
  }

  async function refresh(userId: string): Promise<DirectoryAnswer> {
    try {
      const groups = await readGroups(userId)
      deps.onRead?.('ok')
      const record: Cached = { g: groups, at: now() }
      await deps.cache.set(keyPrefix + userId, Buffer.from(JSON.stringify(record)), config.refreshIntervalMs * STALE_FACTOR).catch(() => undefined)
      return { ok: true, groups }
    } catch (err) {
      deps.onRead?.('error')
      const reason = err instanceof DirectoryFailure ? err.reason : 'the directory was unreachable'
      deps.log?.warn({ user: userId.slice(0, 64), reason }, 'directory read failed')
      return { ok: false, reason }
    }
  }

  function once(userId: string): Promise<DirectoryAnswer> {
    let p = inflight.get(userId)
    if (p === undefined) {
      p = refresh(userId).finally(() => inflight.delete(userId))
      inflight.set(userId, p)
    }
    return p
  }

  async function cached(userId: string): Promise<Cached | undefined> {
    try {
      const bytes = await deps.cache.get(keyPrefix + userId)
      if (bytes === undefined) return undefined
      const v = JSON.parse(Buffer.from(bytes).toString('utf8')) as Cached
      return Array.isArray(v.g) && typeof v.at === 'number' ? v : undefined
    } catch {
      return undefined
    }
  }

  return {
    lookup: config.lookup,
    async groupsOf(userId) {
      const hit = await cached(userId)
      if (hit !== undefined) {
        // Past the interval: answer with what we have and read again in the background.
        if (now() - hit.at >= config.refreshIntervalMs && !inflight.has(userId)) void once(userId)
        return { ok: true, groups: hit.g }
      }
      return once(userId)
    },
    async probe() {
      const signal = AbortSignal.timeout(config.timeoutMs)
      try {
        const res = await call(`${origin}/api/v1/groups?limit=1`, signal)
        if (!res.ok) {
          await res.body?.cancel()
          return { ok: false, reason: `HTTP ${res.status} from ${origin}/api/v1/groups: the credential cannot read groups` }
        }
        await res.body?.cancel()
        const how = config.credential.kind === 'api_token' ? 'an API token (SSWS)' : `the service app ${config.credential.clientId}`
        return { ok: true, detail: `${origin}: groups readable with ${how}` }
      } catch (err) {
        return { ok: false, reason: err instanceof DirectoryFailure ? err.reason : String(err) }
      }
    },
  }
}

/**
 * The identity with its groups completed from the directory when they may be
 * incomplete (or always, when configured). A machine has no user to look up.
 * When the directory cannot answer, the groups stay unknown and say why.
 */
export async function completeGroups<T extends Identity>(who: T, directory: Directory, userId: string, filter: RegExp | undefined): Promise<T> {
  const incomplete = who.unknown?.groups !== undefined
  if (who.unknown?.user !== undefined) return who
  if (!incomplete && directory.lookup !== 'always') return who
  const answer = await directory.groupsOf(userId)
  const rest: { -readonly [K in keyof UnknownFacts]: UnknownFacts[K] } = { ...who.unknown }
  if (!answer.ok) {
    rest.groups = incomplete ? `${answer.reason}; ${who.unknown?.groups ?? ''}` : answer.reason
    return { ...who, unknown: rest }
  }
  delete rest.groups
  const groups = filter === undefined ? answer.groups : answer.groups.filter((g) => filter.test(g))
  const out = { ...who, groups }
  if (Object.keys(rest).length === 0) delete (out as { unknown?: UnknownFacts }).unknown
  else (out as { unknown?: UnknownFacts }).unknown = rest
  return out
}
