/**
 * The local Okta-shaped identity provider, as strict as Okta where a relying
 * party can tell. One listener serves the org authorization server (issuer
 * `http://127.0.0.1:PORT`, endpoints `/oauth2/v1/…`, thin ID tokens, the
 * app's groups claim only with the `groups` scope) and custom servers
 * (`/oauth2/default`, `/oauth2/aus…`, endpoints `{issuer}/v1/…`, JWT access
 * tokens, named claims, access policies), driven by a model of users,
 * groups, apps and servers (YAML or code). Tests change the world through
 * the admin surface (`idp.admin`, or HTTP under /devidp/admin/).
 *
 *   const idp = await startDevIdp({ modelFile: 'config/devidp.yaml' })
 *   idp.issuerOf('org')               // http://127.0.0.1:PORT
 *   idp.issuer                        // http://127.0.0.1:PORT/oauth2/default
 *   idp.admin.setUserGroups('alice', ['eng'])
 *   await idp.admin.rotateKeys('default', 'publish-ahead')
 *
 * What it is not: a real Okta. It listens on 127.0.0.1, keeps everything in
 * memory and signs people in with a plain form. For the demo and tests only.
 */
import { EventEmitter } from 'node:events'
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { generateKeyPair } from 'jose'
import { createAdmin, type DevIdpAdmin } from './admin.js'
import { buildModel, readModelFile } from './build-model.js'
import { issuerOf, type Counters, type EndSessionCall, type IdpContext, type IdpEvents } from './context.js'
import { createKeyRing, type KeyRing } from './keys.js'
import type { AppInput, DevIdpModel, DevIdpModelInput, DevUser, UserInput } from './model.js'
import { idpErrorPage } from './pages.js'
import { createRateLimiter } from './rate-limit.js'
import { route } from './router.js'
import { createState, randomId } from './state.js'
import { createLogoutSender, type LogoutAdmin, type LogoutDelivery } from './logout-sender.js'

export type { DevIdpAdmin, KeyRotation } from './admin.js'
export type { LogoutAdmin, LogoutDelivery, Forgery } from './logout-sender.js'
export type { AppInput as DevClient, DevIdpModelInput, DevUser, UserInput as DevUserInput } from './model.js'
export type { EndSessionCall, IdpEvents } from './context.js'
export { DevIdpModelError } from './build-model.js'

export interface DevIdpOptions {
  readonly port?: number
  /** The model (users, groups, apps, servers). */
  readonly model?: DevIdpModelInput
  /** A YAML file holding the model; `model`, `users` and `clients` add to it. */
  readonly modelFile?: string
  /** Shorthand for `model.users` (replaces the file's users). */
  readonly users?: readonly UserInput[]
  /** Shorthand for more `model.apps`. */
  readonly clients?: readonly AppInput[]
  /** Shorter ID tokens for tests (Okta: always 1 h). */
  readonly idTokenTtlSeconds?: number
  /** The IdP's clock (tests leave it at real time). */
  readonly now?: () => number
}

export interface DevIdp {
  /** The `default` custom server's issuer (the first custom server's, when there is no `default`). */
  readonly issuer: string
  /** The org server's issuer: the bare origin. */
  readonly orgIssuer: string
  readonly url: string
  readonly port: number
  readonly counters: Counters
  readonly endSessions: EndSessionCall[]
  readonly users: readonly DevUser[]
  readonly model: DevIdpModel
  readonly admin: DevIdpAdmin & LogoutAdmin
  readonly events: EventEmitter<IdpEvents>
  /** Back-channel and Universal Logout calls made to apps, with what they answered. */
  readonly logoutDeliveries: readonly LogoutDelivery[]
  issuerOf(serverId: string): string
  /** Same as `admin.rotateKeys(server, 'emergency')`: a new key signs at once. */
  rotateKeys(opts?: { server?: string }): Promise<string>
  currentKid(server?: string): string
  setUserGroups(username: string, groups: string[]): void
  /** false deactivates (tokens revoked, refresh fails with invalid_grant). */
  setUserActive(username: string, active: boolean): void
  setLatency(ms: number): void
  /** Close the listener (an outage); start() opens it again on the same port with the same state. */
  stop(): Promise<void>
  start(): Promise<void>
  close(): Promise<void>
}

function modelInput(opts: DevIdpOptions): DevIdpModelInput {
  const file = opts.modelFile === undefined ? {} : readModelFile(opts.modelFile)
  const m = opts.model ?? {}
  return {
    ...file,
    ...m,
    users: [...(opts.users ?? m.users ?? file.users ?? [])],
    apps: [...(file.apps ?? []), ...(m.apps ?? []), ...(opts.clients ?? [])],
    ...(opts.idTokenTtlSeconds === undefined ? {} : { id_token_ttl_seconds: opts.idTokenTtlSeconds }),
  }
}

export async function startDevIdp(opts: DevIdpOptions = {}): Promise<DevIdp> {
  const model = buildModel(modelInput(opts))
  const now = opts.now ?? Date.now
  const server = http.createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  const url = `http://127.0.0.1:${port}`
  const keys = new Map<string, KeyRing>()
  for (const s of model.servers.values()) keys.set(s.id, await createKeyRing(s.signingAlg))
  const orgAccess = await generateKeyPair('RS256')
  const ctx: IdpContext = {
    model,
    state: createState(),
    keys,
    orgAccessKey: { kid: randomId(), alg: 'RS256', privateKey: orgAccess.privateKey },
    url,
    orgIdpId: '00o1devidp0000000000',
    now,
    counters: {
      authorizationCodeGrants: 0,
      refreshGrants: 0,
      refreshFailures: 0,
      jwksFetches: 0,
      logouts: 0,
      logins: 0,
      userinfoCalls: 0,
      tokenRequests: 0,
      clientCredentialsGrants: 0,
      introspections: 0,
      apiCalls: 0,
    },
    endSessions: [],
    rate: createRateLimiter(now),
    outages: { api: false },
    events: new EventEmitter<IdpEvents>(),
  }
  const sender = createLogoutSender(ctx)
  const { deliveries: _deliveries, ...logoutAdmin } = sender
  const admin: DevIdpAdmin & LogoutAdmin = { ...createAdmin(ctx), ...logoutAdmin }
  let latencyMs = 0

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const go = (): void =>
      void route(ctx, admin, req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/html; charset=utf-8' })
        res.end(idpErrorPage('Error', err instanceof Error ? err.message : 'internal error'))
      })
    if (latencyMs > 0) setTimeout(go, latencyMs)
    else go()
  })
  const sockets = new Set<Socket>()
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      if (!server.listening) return resolve()
      server.close(() => resolve())
      for (const s of sockets) s.destroy()
    })

  const custom = [...model.servers.values()].find((s) => s.id === 'default') ?? [...model.servers.values()].find((s) => s.kind === 'custom')
  const issuerFor = (id: string): string => {
    const s = model.servers.get(id)
    if (s === undefined) throw new Error(`no authorization server ${id}`)
    return issuerOf(ctx, s)
  }
  return {
    issuer: custom === undefined ? url : issuerOf(ctx, custom),
    orgIssuer: url,
    url,
    port,
    counters: ctx.counters,
    endSessions: ctx.endSessions,
    users: model.users,
    model,
    admin,
    events: ctx.events,
    logoutDeliveries: sender.deliveries,
    issuerOf: issuerFor,
    rotateKeys: (o = {}) => admin.rotateKeys(o.server ?? custom?.id ?? 'org', 'emergency'),
    currentKid: (s) => admin.currentKid(s ?? custom?.id ?? 'org'),
    setUserGroups: (u, g) => admin.setUserGroups(u, g),
    setUserActive: (u, active) => (active ? admin.activateUser(u) : admin.deactivateUser(u)),
    setLatency(ms) {
      latencyMs = ms
    },
    stop,
    start: () => new Promise<void>((resolve) => (server.listening ? resolve() : server.listen(port, '127.0.0.1', () => resolve()))),
    close: stop,
  }
}
