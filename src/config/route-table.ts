/**
 * Routes indexed for matching: a Map lookup by host, then the host's routes
 * in config order (first match wins, as in Pomerium). `from` without a port
 * matches any port; with a port, only that port. Wildcard hosts
 * (`*.corp.example`) are checked after exact ones only when some exist.
 */
import type { CompiledRoute, PathMatcher, RouteTable } from './types.js'

function pathMatches(m: PathMatcher, path: string): boolean {
  switch (m.kind) {
    case 'any':
      return true
    case 'prefix':
      return path.startsWith(m.prefix)
    case 'path':
      return path === m.path
    case 'regex':
      return m.regex.test(path)
  }
}

interface Folded {
  readonly route: CompiledRoute
  readonly test: (lowerPath: string) => boolean
}

function folded(r: CompiledRoute): Folded {
  const m = r.path
  switch (m.kind) {
    case 'any':
      return { route: r, test: () => true }
    case 'prefix': {
      const p = m.prefix.toLowerCase()
      return { route: r, test: (x) => x.startsWith(p) }
    }
    case 'path': {
      const p = m.path.toLowerCase()
      return { route: r, test: (x) => x === p }
    }
    case 'regex': {
      const re = new RegExp(m.regex.source, 'i')
      return { route: r, test: (x) => re.test(x) }
    }
  }
}

function wildcardFits(pattern: string, host: string): boolean {
  // `*.corp.example` matches one or more labels before `.corp.example`.
  return host.length > pattern.length - 1 && host.endsWith(pattern.slice(1))
}

export function buildRouteTable(routes: readonly CompiledRoute[]): RouteTable {
  const byHost = new Map<string, CompiledRoute[]>()
  const wildcards: CompiledRoute[] = []
  for (const r of routes) {
    if (r.host.startsWith('*.')) {
      wildcards.push(r)
      continue
    }
    const list = byHost.get(r.host)
    if (list === undefined) byHost.set(r.host, [r])
    else list.push(r)
  }
  const hasWildcards = wildcards.length > 0
  // Hosts whose routes all match any path cannot be ambiguous by case: skip the second match.
  const foldedByHost = new Map<string, Folded[]>()
  for (const [host, list] of byHost) if (list.some((r) => r.path.kind !== 'any')) foldedByHost.set(host, list.map(folded))
  const foldedWild = wildcards.map(folded)

  function candidates(host: string): readonly CompiledRoute[] {
    const exact = byHost.get(host)
    if (!hasWildcards) return exact ?? []
    const wild = wildcards.filter((r) => wildcardFits(r.host, host))
    if (wild.length === 0) return exact ?? []
    return [...(exact ?? []), ...wild].sort((a, b) => a.index - b.index)
  }

  return {
    size: routes.length,
    match(host, port, path) {
      const list = candidates(host.toLowerCase())
      for (let i = 0; i < list.length; i++) {
        const r = list[i] as CompiledRoute
        if (r.port !== undefined && r.port !== port) continue
        if (pathMatches(r.path, path)) return r
      }
      return undefined
    },
    caseAmbiguous(host, port, path, chosen) {
      const h = host.toLowerCase()
      const exact = foldedByHost.get(h)
      if (exact === undefined && !hasWildcards) return false
      const list = hasWildcards
        ? [...(exact ?? (byHost.get(h) ?? []).map(folded)), ...foldedWild.filter((f) => wildcardFits(f.route.host, h))].sort(
            (a, b) => a.route.index - b.route.index,
          )
        : (exact as Folded[])
      const lower = path.toLowerCase()
      for (const f of list) {
        if (f.route.port !== undefined && f.route.port !== port) continue
        if (f.test(lower)) return f.route !== chosen
      }
      return false
    },
    hasHost(host, port) {
      for (const r of candidates(host.toLowerCase())) if (r.port === undefined || r.port === port) return true
      return false
    },
  }
}
