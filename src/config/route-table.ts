/**
 * Routes indexed for matching: a Map lookup by host, then the host's routes
 * in config order (first match wins, as in Pomerium). `from` without a port
 * matches any port; with a port, only that port. Wildcard hosts
 * (`*.corp.example`) are checked after exact ones only when some exist.
 *
 * Two rules keep the route the policy judges equal to the resource an
 * upstream serves:
 * - `path:` and `regex:` routes match a path with or without one trailing
 *   slash (`/settings/billing/` is `/settings/billing`), because Express,
 *   older Spring and many other frameworks serve both as one resource.
 * - A path that a case-insensitive comparison would give to another route is
 *   ambiguous (a case-insensitive upstream would serve that route's resource).
 *
 * One pass over the routes answers both; each route's pattern runs once on
 * the path, and its case-insensitive form only when case can matter (the path
 * or the route's pattern has upper-case or non-ASCII letters).
 */
import type { CompiledRoute, PathMatcher, RouteFind, RouteTable } from './types.js'

/** `/a/` → `/a`; `/` → ``: the form a trailing slash does not change. */
export function withoutTrailingSlash(path: string): string {
  return path.endsWith('/') ? path.slice(0, -1) : path
}

function hasUpperOrNonAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if ((c >= 65 && c <= 90) || c >= 128) return true
  }
  return false
}

interface Entry {
  readonly route: CompiledRoute
  /** Case-sensitive test of the request path. */
  readonly exact: (path: string) => boolean
  /** Case-insensitive test: the request path lower-cased (regexes fold case themselves). */
  readonly folded: (path: string, lowerPath: string) => boolean
  /** The route's own pattern has letters whose case matters. */
  readonly caseMatters: boolean
}

function entryOf(route: CompiledRoute): Entry {
  const m: PathMatcher = route.path
  switch (m.kind) {
    case 'any':
      return { route, exact: () => true, folded: () => true, caseMatters: false }
    case 'prefix': {
      const p = m.prefix
      const lower = p.toLowerCase()
      return { route, exact: (x) => x.startsWith(p), folded: (_x, l) => l.startsWith(lower), caseMatters: hasUpperOrNonAscii(p) }
    }
    case 'path': {
      const p = withoutTrailingSlash(m.path)
      const lower = p.toLowerCase()
      return {
        route,
        exact: (x) => withoutTrailingSlash(x) === p,
        folded: (_x, l) => withoutTrailingSlash(l) === lower,
        caseMatters: hasUpperOrNonAscii(p),
      }
    }
    case 'regex':
      // The compiled tolerant programs take `path-without-trailing-slash + '/'`.
      return {
        route,
        exact: (x) => m.tolerant.test(withoutTrailingSlash(x) + '/'),
        folded: (x) => m.tolerantFolded.test(withoutTrailingSlash(x) + '/'),
        caseMatters: hasUpperOrNonAscii(m.source),
      }
  }
}

function wildcardFits(pattern: string, host: string): boolean {
  // `*.corp.example` matches one or more labels before `.corp.example`.
  return host.length > pattern.length - 1 && host.endsWith(pattern.slice(1))
}

const NONE: RouteFind = Object.freeze({ kind: 'none' })
const AMBIGUOUS: RouteFind = Object.freeze({ kind: 'ambiguous' })

export function buildRouteTable(routes: readonly CompiledRoute[]): RouteTable {
  const byHost = new Map<string, Entry[]>()
  const wildcards: Entry[] = []
  for (const r of routes) {
    const e = entryOf(r)
    if (r.host.startsWith('*.')) {
      wildcards.push(e)
      continue
    }
    const list = byHost.get(r.host)
    if (list === undefined) byHost.set(r.host, [e])
    else list.push(e)
  }
  const hasWildcards = wildcards.length > 0

  function candidates(host: string): readonly Entry[] {
    const exact = byHost.get(host)
    if (!hasWildcards) return exact ?? []
    const wild = wildcards.filter((e) => wildcardFits(e.route.host, host))
    if (wild.length === 0) return exact ?? []
    return [...(exact ?? []), ...wild].sort((a, b) => a.route.index - b.route.index)
  }

  function find(host: string, port: number | undefined, path: string, checkCase = true): RouteFind {
    const list = candidates(host.toLowerCase())
    const pathCaseMatters = checkCase && hasUpperOrNonAscii(path)
    let lower: string | undefined
    // The first route a case-insensitive comparison picks; an exact match on a later route is then ambiguous.
    let foldedFirst: CompiledRoute | undefined
    for (let i = 0; i < list.length; i++) {
      const e = list[i] as Entry
      if (e.route.port !== undefined && e.route.port !== port) continue
      if (e.exact(path)) return foldedFirst === undefined ? { kind: 'route', route: e.route } : AMBIGUOUS
      if (foldedFirst === undefined && checkCase && (pathCaseMatters || e.caseMatters)) {
        lower ??= path.toLowerCase()
        if (e.folded(path, lower)) foldedFirst = e.route
      }
    }
    return NONE
  }

  return {
    size: routes.length,
    find,
    match(host, port, path) {
      const f = find(host, port, path, false)
      return f.kind === 'route' ? f.route : undefined
    },
    hasHost(host, port) {
      for (const e of candidates(host.toLowerCase())) if (e.route.port === undefined || e.route.port === port) return true
      return false
    },
  }
}
