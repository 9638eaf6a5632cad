/**
 * The authorize core: one decision for every front end. It takes plain
 * request facts and a config snapshot and returns a verdict; it knows no
 * fastify and no sockets, and its only I/O is the session port it is handed.
 * It does not answer: the reverse proxy, the WebSocket front end and
 * forward-auth each turn the verdict into their own reply.
 *
 *   const v = authorize({ sessions, signer, now }, snapshot, {
 *     method: 'GET', scheme: 'https', host: 'app.corp.example', target: '/admin?x=1',
 *     peer: '10.0.0.7', headers: { cookie: '_gatehouse=…' }, isWebSocket: false,
 *   })
 *   // v.kind: 'allow' | 'sign-in' | 'deny' | 'not-found' | 'bad-request' | 'endpoint' | 'jwks' | 'store-down'
 */
export { authorize, signInUrl, type AssertionSource, type AuthorizeDeps } from './decide.js'
export type { Headers, RequestFacts } from './facts.js'
export { parseHost, type HostPort } from './host.js'
export type { ActiveSession, IdentityPort, LoadResult, LoginStart, SessionPort, SignedIn } from './ports.js'
export { externalScheme, type HostRule, type KnownHosts, type RouteRuntime, type Snapshot } from './snapshot.js'
export type { Allow, RouteTarget, Verdict } from './verdict.js'
