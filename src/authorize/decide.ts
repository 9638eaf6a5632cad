/**
 * The authorize core: request facts + a config snapshot → a verdict.
 *
 *   route = resolveRoute(facts)           host, canonical path, route table
 *   who   = session from the cookie       the session port (memory cache first)
 *   d     = route.policy(facts, who)      compiled closure
 *   allow → the assertion for the upstream (cached per session and host)
 *
 * Every front end (reverse proxy, WebSocket, forward-auth) calls this and only
 * translates its input into facts and the verdict into its own answer. It runs
 * without a promise when everything it needs is in memory (a signed-in user
 * whose session and assertion are cached): then it returns the verdict itself.
 */
import { PATHS } from '../constants.js'
import type { RequestFacts as PolicyInput } from '../policy/types.js'
import { readCookie } from '../session/cookies.js'
import { sessionCookieName } from '../session/cookie-names.js'
import type { RequestFacts } from './facts.js'
import type { ActiveSession, LoadResult, SessionPort } from './ports.js'
import { resolveRoute } from './resolve.js'
import type { Snapshot } from './snapshot.js'
import type { RouteTarget, Verdict } from './verdict.js'
import { bearerSession, bearerTokenOf, type BearerPort } from './bearer.js'
import type { Directory } from '../identity/directory.js'
import { completeGroups } from '../identity/directory.js'
import { withRoles } from './roles.js'
import { startHandoff, type HandoffStart } from './authenticate.js'
import { openProgrammaticToken, programmaticTokenOf } from './programmatic-token.js'

/** The signer of the upstream assertion: a cache that answers without I/O, and the signing itself. */
export interface AssertionSource {
  cached(session: ActiveSession, audience: string): string | undefined
  assertionFor(session: ActiveSession, audience: string): Promise<string>
}

/** What the core is handed: the session store (behind its port), the assertion signer and the clock. */
export interface AuthorizeDeps {
  readonly sessions: Pick<SessionPort, 'peek' | 'load'>
  readonly signer: AssertionSource
  readonly now: () => number
  /** Bearer-token verification (idp_access_token / idp_identity_token routes). */
  readonly bearer?: BearerPort
  /** Groups from Okta's API, when configured. */
  readonly directory?: { readonly directory: Directory; readonly groupsFilter: RegExp | undefined }
}

export function authorize(deps: AuthorizeDeps, snap: Snapshot, facts: RequestFacts): Verdict | Promise<Verdict> {
  const r = resolveRoute(snap, facts)
  if (r.kind !== 'route') return r
  if (facts.isWebSocket && !r.route.allowWebsockets) {
    const reason = 'allow_websockets is not set on this route'
    return { kind: 'deny', target: r, session: undefined, reason, publicReason: reason, criterion: 'allow_websockets' }
  }
  // Public routes never touch the store: they keep working when it is down.
  if (!r.route.policy.needsSession) return decide(deps, facts, r, undefined, undefined)
  // A programmatic sign-in's token (with a sign-in host) stands in for this host's cookie.
  if (r.authenticate !== undefined) {
    const token = programmaticTokenOf(facts.headers.authorization)
    if (token !== undefined) return identifyProgrammatic(deps, facts, r, r.authenticate.tokenKey, token, snap.config.roles)
  }
  // A bearer route with a bearer token: the token is the credential, not the cookie.
  if (r.route.bearer.format !== 'default' && deps.bearer !== undefined) {
    const token = bearerTokenOf(facts.headers.authorization)
    if (token !== undefined) return identifyBearer(deps, deps.bearer, facts, r, token, snap.config.roles)
  }
  const cookie = readCookie(facts.headers.cookie, sessionCookieName(snap.config, r.scheme))
  const known = deps.sessions.peek(cookie)
  const roles = snap.config.roles
  if (known !== undefined) return withGroups(deps, facts, r, sessionOf(known), roles)
  return deps.sessions.load(cookie).then(
    (loaded) => withGroups(deps, facts, r, sessionOf(loaded), roles),
    (err: unknown): Verdict => ({ kind: 'store-down', target: r, err }),
  )
}

function identifyProgrammatic(
  deps: AuthorizeDeps,
  facts: RequestFacts,
  r: RouteTarget,
  key: Uint8Array,
  token: string,
  roles: Roles,
): Verdict | Promise<Verdict> {
  const cookieValue = openProgrammaticToken(key, r.host.authority, token)
  const refused: Verdict = {
    kind: 'bearer-refused',
    target: r,
    status: 401,
    description: 'the sign-in token is not valid for this host, or its session has ended',
  }
  if (cookieValue === undefined) return refused
  const judge = (loaded: LoadResult): Verdict | Promise<Verdict> => (loaded.kind === 'session' ? withGroups(deps, facts, r, loaded.session, roles) : refused)
  const known = deps.sessions.peek(cookieValue)
  if (known !== undefined) return judge(known)
  return deps.sessions.load(cookieValue).then(judge, (err: unknown): Verdict => ({ kind: 'store-down', target: r, err }))
}

function identifyBearer(deps: AuthorizeDeps, bearer: BearerPort, facts: RequestFacts, r: RouteTarget, token: string, roles: Roles): Verdict | Promise<Verdict> {
  const spec = r.route.bearer
  if (spec.format === 'default') return decide(deps, facts, r, undefined, roles)
  const judge = (res: Awaited<ReturnType<BearerPort['verify']>>): Verdict | Promise<Verdict> =>
    res.ok
      ? withGroups(deps, facts, r, bearerSession(res, token, r.route, deps.now()), roles)
      : { kind: 'bearer-refused', target: r, status: res.status, description: res.description }
  // A token seen before is answered from memory, without a promise.
  const known = bearer.peek(token, spec)
  return known !== undefined ? judge(known) : bearer.verify(token, spec).then(judge)
}

/** Groups the token may have cut short, completed from Okta's API when the directory is configured. */
function withGroups(deps: AuthorizeDeps, facts: RequestFacts, r: RouteTarget, who: ActiveSession | undefined, roles: Roles): Verdict | Promise<Verdict> {
  const d = deps.directory
  if (d === undefined || who === undefined) return decide(deps, facts, r, who, roles)
  if (who.unknown?.groups === undefined && d.directory.lookup !== 'always') return decide(deps, facts, r, who, roles)
  if (who.unknown?.user !== undefined) return decide(deps, facts, r, who, roles)
  return completeGroups(who, d.directory, who.sub, d.groupsFilter).then((full) => decide(deps, facts, r, full, roles))
}

function sessionOf(loaded: LoadResult): ActiveSession | undefined {
  return loaded.kind === 'session' ? loaded.session : undefined
}

/** The config's idp_roles, applied once the groups are final. */
type Roles = Snapshot['config']['roles']

function decide(deps: AuthorizeDeps, facts: RequestFacts, r: RouteTarget, who: ActiveSession | undefined, roles: Roles): Verdict | Promise<Verdict> {
  const session = who === undefined ? undefined : withRoles(who, roles)
  const input: PolicyInput = {
    method: r.method,
    path: r.judgedPath,
    sourceIp: r.fwd.clientIp,
    isCorsPreflight: r.method === 'OPTIONS' && facts.headers.origin !== undefined && facts.headers['access-control-request-method'] !== undefined,
  }
  const d = r.route.policy.evaluate(session, input, deps.now())
  if (d.outcome === 'login') return { kind: 'sign-in', target: r, reason: d.reason, signInUrl: signInUrl(r), handoff: handoffFor(r, deps.now()) }
  if (d.outcome === 'deny') return { kind: 'deny', target: r, session, reason: d.reason, publicReason: d.publicReason, criterion: d.criterion }
  if (session === undefined) return { kind: 'allow', target: r, session, assertion: undefined }
  const assertion = deps.signer.cached(session, r.host.hostname)
  if (assertion !== undefined) return { kind: 'allow', target: r, session, assertion }
  return deps.signer.assertionFor(session, r.host.hostname).then((jwt): Verdict => ({ kind: 'allow', target: r, session, assertion: jwt }))
}

/** With a sign-in host: the signed request that sends the browser there, coming back to this request. */
function handoffFor(r: RouteTarget, nowMs: number): HandoffStart | undefined {
  if (r.authenticate === undefined) return undefined
  const origin = `${r.scheme}://${r.host.authority}`
  return startHandoff(r.authenticate, { scheme: r.scheme, host: r.host.authority, returnTo: origin + r.path + r.query }, nowMs)
}

/** `/.gatehouse/sign_in` on the route host, coming back to this request. */
export function signInUrl(r: RouteTarget): string {
  const origin = `${r.scheme}://${r.host.authority}`
  return `${origin}${PATHS.signIn}?rd=${encodeURIComponent(origin + r.path + r.query)}`
}
