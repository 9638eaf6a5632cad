/**
 * `gatehouse explain -c FILE --url URL [...]`: which route matches, what the
 * policy decides and why, rule by rule. Exit 0 allow, 3 deny, 4 login, 1
 * config error, 2 usage error.
 */
import type { Identity, UnknownFacts, UserFact } from '../policy/types.js'
import { withRoles } from '../authorize/roles.js'
import { normalizeRequestPath } from '../proxy/path.js'
import { routeForPath } from '../proxy/route-for-path.js'
import { configPath, loadConfigOrReport, parseCommand, type CommandIO } from './io.js'

export const usage =
  'usage: gatehouse explain -c FILE --url URL [--method M] [--email E] [--user SUB] [--groups a,b] [--claims JSON] [--source-ip IP] [--time ISO] [--anonymous] [--machine] [--unknown FACT[=REASON]]...'

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const v = parseCommand(
    argv,
    {
      config: { type: 'string', short: 'c' },
      url: { type: 'string' },
      method: { type: 'string', default: 'GET' },
      email: { type: 'string' },
      user: { type: 'string' },
      groups: { type: 'string' },
      claims: { type: 'string' },
      'source-ip': { type: 'string', default: '127.0.0.1' },
      time: { type: 'string' },
      anonymous: { type: 'boolean' },
      machine: { type: 'boolean' },
      unknown: { type: 'string', multiple: true },
    },
    usage,
    io,
  )
  if (typeof v === 'number') return v
  if (v.url === undefined) {
    io.stderr(`--url is required\n${usage}\n`)
    return 2
  }
  let url: URL
  try {
    url = new URL(v.url)
  } catch {
    io.stderr(`--url "${v.url}" is not a URL (write it whole: https://app.corp.example/path)\n`)
    return 2
  }
  let claims: Record<string, unknown> = {}
  if (v.claims !== undefined) {
    try {
      const parsed: unknown = JSON.parse(v.claims)
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object')
      claims = parsed as Record<string, unknown>
    } catch {
      io.stderr('--claims must be a JSON object, such as \'{"department":"ops"}\'\n')
      return 2
    }
  }
  const unknown = unknownFacts(v.unknown ?? [], v.machine === true)
  if (typeof unknown === 'string') {
    io.stderr(`${unknown}\n${usage}\n`)
    return 2
  }
  const now = v.time === undefined ? Date.now() : Date.parse(v.time)
  if (Number.isNaN(now)) {
    io.stderr(`--time "${v.time}" is not a date (use ISO 8601)\n`)
    return 2
  }

  const config = loadConfigOrReport(configPath(v.config, io), io)
  if (config === undefined) return 1
  const target = normalizeRequestPath(url.pathname + url.search)
  if (!target.ok) {
    io.stdout(`request: refused with 400: ${target.reason}\n`)
    return 3
  }
  const found = routeForPath(config.routeTable, url.hostname, url.port === '' ? undefined : Number(url.port), target.path, target.hasParams === true)
  if (found.kind === 'refused') {
    io.stdout(`request: refused with 400: ${found.message}\n`)
    return 3
  }
  if (found.kind === 'none') {
    io.stdout(`route: none matches ${url.host}${target.path} (404)\n`)
    return 3
  }
  const route = found.route
  const groups =
    v.groups === undefined
      ? []
      : v.groups
          .split(',')
          .map((g) => g.trim())
          .filter(Boolean)
  let who: Identity | undefined =
    v.anonymous === true
      ? undefined
      : {
          sub: v.user ?? (claims.sub as string | undefined) ?? v.email ?? 'anonymous-user',
          email: v.email,
          name: undefined,
          groups: config.idp.groupsFilter === undefined ? groups : groups.filter((g) => (config.idp.groupsFilter as RegExp).test(g)),
          claims: { ...claims, ...(v.email === undefined ? {} : { email: v.email }) },
          ...(unknown === undefined ? {} : { unknown }),
        }
  if (who !== undefined) who = withRoles(who, config.roles)
  const method = v.method.toUpperCase()
  const { decision, trace } = route.policy.explain(who, { method, path: found.judgedPath, sourceIp: v['source-ip'], isCorsPreflight: false }, now)
  io.stdout(`route: ${route.id} (routes[${route.index}], ${config.file}:${route.at.line})\n`)
  io.stdout(
    `user: ${who === undefined ? 'anonymous (no session)' : `${who.email ?? who.sub} groups [${who.groups.join(', ')}]${who.roles === undefined ? '' : ` roles [${who.roles.join(', ')}]`}`}\n`,
  )
  for (const [fact, why] of Object.entries(who?.unknown ?? {})) io.stdout(`unknown: ${fact} (${why})\n`)
  io.stdout(`request: ${method} ${found.judgedPath} from ${v['source-ip']}\n`)
  io.stdout(`outcome: ${decision.outcome}${decision.outcome === 'login' ? ' (sign-in required)' : ''}\n`)
  io.stdout(`reason: ${decision.reason}\n`)
  io.stdout('trace:\n')
  for (const t of trace) {
    io.stdout(`  rule ${t.rule} ${t.action} ${t.operator}: ${t.matched ? 'holds' : 'does not hold'}\n`)
    for (const c of t.criteria) io.stdout(`    [${c.result}] ${c.reason}\n`)
  }
  return decision.outcome === 'allow' ? 0 : decision.outcome === 'deny' ? 3 : 4
}

const FACTS: readonly UserFact[] = ['groups', 'email', 'user', 'roles']
const DEFAULT_REASON: Record<UserFact, string> = {
  groups: "the groups from Okta may be incomplete (100 groups, the claim's cap)",
  roles: 'the roles are not known',
  email: 'the email is not known',
  user: 'the user is not known',
}
// Roles follow from groups (withRoles), so a machine's are unknown only where idp_roles grants them.
const MACHINE_REASON: { readonly [F in UserFact]?: string } = {
  groups: 'a machine token has no groups',
  email: 'a machine token has no email',
  user: 'a machine token has no user',
}

/** `--unknown groups`, `--unknown "email=email not verified"`, `--machine`: the facts to judge as unknown, or a usage message. */
function unknownFacts(specs: readonly string[], isMachine: boolean): UnknownFacts | undefined | string {
  const out: { [F in UserFact]?: string } = isMachine ? { ...MACHINE_REASON } : {}
  for (const spec of specs) {
    const eq = spec.indexOf('=')
    const name = eq < 0 ? spec : spec.slice(0, eq)
    const fact = FACTS.find((f) => f === name)
    if (fact === undefined) return `--unknown "${spec}": the fact must be one of ${FACTS.join(', ')} (domain follows email)`
    out[fact] = eq < 0 ? DEFAULT_REASON[fact] : spec.slice(eq + 1) || DEFAULT_REASON[fact]
  }
  return Object.keys(out).length === 0 ? undefined : out
}
