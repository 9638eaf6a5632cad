/**
 * Assembling a running gatehouse from a CompiledConfig: keys, the IdP client,
 * the session store, the app; then listening. `reload` swaps the config
 * snapshot (requests in flight finish under the old one); `close` drains.
 */
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import type { CompiledConfig } from '../../config/types.js'
import { createBearerVerifier, createDirectory, createIdentityProvider, type IdentityProvider } from '../../identity/index.js'
import { createAssertionSigner } from '../../proxy/assertion.js'
import { createUpstreamDispatcher, tlsByOrigin } from '../../proxy/dispatcher.js'
import { loadSigningKey } from '../../proxy/signing-key.js'
import { createHandoffCodes, createSessionManager, createStore, type KeyValueStore } from '../../session/index.js'
import { buildApp } from '../app.js'
import { attachWebSockets } from '../frontends/websocket.js'
import { createAccessLog } from '../telemetry/access-log.js'
import { createCsrfTokens, type Gatehouse } from '../context.js'
import { createMetrics, type Metrics } from '../telemetry/metrics.js'
import type { IdentityPort } from '../../authorize/ports.js'
import { createSessionPort } from '../session-port.js'
import { createLiveConnections } from '../frontends/live-connections.js'
import { buildSnapshot, type Snapshot } from './snapshot.js'
import { createRateLimiter } from '../rate-limiter.js'
import { createClientShares } from '../../proxy/client-shares.js'
import { CALLBACKS_PER_MINUTE } from '../endpoints/callback.js'

export interface StartOptions {
  readonly config: CompiledConfig
  readonly log: Logger
  readonly now?: () => number
  readonly fetch?: (input: string | URL, init?: RequestInit) => Promise<Response>
  /** Override `address` (tests listen on port 0). */
  readonly listen?: { readonly host: string; readonly port: number }
  readonly metrics?: Metrics
  /** How long close() waits for requests in flight. */
  readonly drainTimeoutMs?: number
  readonly jwksCooldownMs?: number
  readonly headersTimeoutMs?: number
  /** Timeout of each request to the IdP. */
  readonly idpTimeoutMs?: number
  /** Key prefix in a shared session store (tests keep theirs apart). */
  readonly storePrefix?: string
}

export interface RunningGatehouse {
  readonly url: string
  readonly port: number
  readonly metrics: Metrics
  readonly identity: IdentityProvider
  readonly store: KeyValueStore
  /** Open WebSockets and streamed responses that follow a session or token. */
  readonly openConnections: number
  current(): Snapshot
  /** Swap in a new config. Settings that need a restart (IdP, cookie secret, store, address) are reported, and the old values kept. */
  reload(config: CompiledConfig): string[]
  close(): Promise<void>
}

function identityPort(idp: IdentityProvider): IdentityPort {
  return {
    isReady: () => idp.isReady(),
    beginLogin: (returnTo, redirectUri) => idp.beginLogin(returnTo, redirectUri),
    completeLogin: (url, sealed, consume) => idp.completeLogin(url, sealed, consume),
    endSessionUrl: (hint, post, state) => idp.endSessionUrl(hint, post, state),
    loginCookieSuffix: (state) => idp.loginCookieSuffix(state),
    scopes: () => idp.scopes(),
    verifyLogoutToken: (token) => idp.verifyLogoutToken(token),
    verifyRevocationCall: (token, endpointUrl) => idp.verifyRevocationCall(token, endpointUrl),
    revokeRefreshToken: (token) => idp.revokeRefreshToken(token),
  }
}

export async function startGatehouse(opts: StartOptions): Promise<RunningGatehouse> {
  const { log } = opts
  const now = opts.now ?? Date.now
  const metrics = opts.metrics ?? createMetrics()
  let snapshot = buildSnapshot(opts.config)
  const first = opts.config

  const signingKey = await loadSigningKey(first.signingKeyPem, first.cookie.secret)
  const identity = createIdentityProvider(first.idp, first.cookie.secret, {
    ...(opts.fetch === undefined ? {} : { fetch: opts.fetch }),
    now,
    ...(opts.jwksCooldownMs === undefined ? {} : { jwksCooldownMs: opts.jwksCooldownMs }),
    ...(opts.idpTimeoutMs === undefined ? {} : { timeoutMs: opts.idpTimeoutMs }),
    onJwksFetch: (result) => metrics.jwksFetches.inc({ result }),
    groupsFromDirectory: first.directory !== undefined,
  })
  const store = createStore(first.storage, {
    now,
    onError: (err) => log.warn({ err: { message: err.message } }, 'session store connection error'),
    ...(opts.storePrefix === undefined ? {} : { prefix: opts.storePrefix }),
  })
  // The store server's product and version for /readyz, read once it answers (not its build details: /readyz is public).
  let knownVersion: string | undefined
  const storeVersion = async (): Promise<string | undefined> => {
    if (knownVersion !== undefined || store.serverVersion === undefined) return knownVersion
    try {
      knownVersion = /^\S+ [^\s,]+/.exec(await store.serverVersion())?.[0]
    } catch {
      // Not known yet: asked again by the next probe.
    }
    return knownVersion
  }
  const manager = createSessionManager({
    store,
    cookieSecret: first.cookie.secret,
    now,
    ttlMs: first.cookie.expireMs,
    cacheTtlMs: store.kind === 'memory' ? 2_000 : 0,
    operatorIndex: store.kind !== 'memory',
  })
  const sessions = createSessionPort({
    manager,
    identity,
    now,
    log,
    metrics,
    refreshIntervalMs: () => snapshot.config.sessionRefreshIntervalMs,
    forwardsAccessToken: () => snapshot.forwardsAccessToken,
    isStoreReady: async () => {
      if (store.kind === 'memory') return true
      try {
        await store.ping()
        return true
      } catch {
        return false
      }
    },
  })
  const live = createLiveConnections({
    onEnded: manager.onEnded,
    sessionExists: manager.exists,
    now,
    log,
    onClosed: (reason) => metrics.connectionsClosed.inc({ reason }),
  })
  // Bearer tokens and the directory belong to the IdP, which a reload does not change.
  const bearer = createBearerVerifier({
    server: () => identity.bearerServer(),
    now,
    clientId: first.idp.clientId,
    identity: { groupsClaim: first.idp.groupsClaim, groupsFilter: first.idp.groupsFilter },
  })
  const directory =
    first.directory === undefined
      ? undefined
      : {
          directory: createDirectory(first.directory, {
            cache: store,
            now,
            ...(opts.fetch === undefined ? {} : { fetch: opts.fetch }),
            log,
          }),
          groupsFilter: first.idp.groupsFilter,
        }
  const dispatcher = createUpstreamDispatcher({ tls: () => tlsByOrigin(snapshot.config.routes) })

  const gh: Gatehouse = {
    current: () => snapshot,
    sessions,
    identity: identityPort(identity),
    signer: createAssertionSigner({ key: signingKey, now }),
    dispatcher,
    jwksJson: JSON.stringify({ keys: [signingKey.publicJwk] }),
    listenerProto: first.certificatePem !== undefined && !first.insecureServer ? 'https' : 'http',
    now,
    log,
    accessLog: createAccessLog(log),
    csrf: createCsrfTokens(first.cookie.secret),
    shares: createClientShares(),
    callbackLimiter: createRateLimiter({ limit: CALLBACKS_PER_MINUTE, windowMs: 60_000, now }),
    metrics,
    live,
    bearer,
    ...(directory === undefined ? {} : { directory }),
    handoffs: createHandoffCodes({ store, cookieSecret: first.cookie.secret, now }),
  }

  const app = await buildApp(gh, {
    ...(opts.headersTimeoutMs === undefined ? {} : { headersTimeoutMs: opts.headersTimeoutMs }),
    ...(first.certificatePem !== undefined && first.certificateKeyPem !== undefined && !first.insecureServer
      ? {
          https: {
            cert: first.certificatePem,
            key: first.certificateKeyPem,
            ...(first.downstreamMtls === undefined ? {} : { clientCerts: first.downstreamMtls }),
          },
        }
      : {}),
    isReady: async () => {
      const checks = { idp: identity.isReady(), session_store: await sessions.isReady() }
      const version = checks.session_store ? await storeVersion() : undefined
      return { ready: checks.idp && checks.session_store, checks, ...(version === undefined ? {} : { session_store_version: version }) }
    },
  })

  attachWebSockets(gh, app.server)

  // Discovery and keys in the background, retried with backoff: the process
  // serves health checks (and public routes) while the IdP is unreachable.
  let closed = false
  let retryTimer: NodeJS.Timeout | undefined
  const warmUp = (attempt: number): void => {
    identity.ready().then(
      () => log.info({ issuer: first.idp.providerUrl }, 'identity provider ready'),
      (err: unknown) => {
        if (closed) return
        const delay = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6))
        log.error({ err: isErr(err) }, `identity provider not ready; retrying in ${Math.round(delay / 1000)}s`)
        retryTimer = setTimeout(() => warmUp(attempt + 1), delay)
        retryTimer.unref()
      },
    )
  }
  warmUp(0)

  const where = opts.listen ?? first.address
  await app.listen({ host: where.host, port: where.port })
  const port = (app.server.address() as AddressInfo).port
  const url = `${gh.listenerProto}://${where.host.includes(':') ? `[${where.host}]` : where.host === '0.0.0.0' ? '127.0.0.1' : where.host}:${port}`
  log.info({ url, routes: first.routes.length, store: store.kind }, 'gatehouse listening')

  return {
    url,
    port,
    metrics,
    identity,
    store,
    get openConnections() {
      return live.size
    },
    current: () => snapshot,
    reload(config) {
      const needsRestart: string[] = []
      const before = snapshot.config
      if (
        JSON.stringify({ ...before.idp, groupsFilter: String(before.idp.groupsFilter) }) !==
        JSON.stringify({ ...config.idp, groupsFilter: String(config.idp.groupsFilter) })
      )
        needsRestart.push('idp_*')
      if (Buffer.compare(Buffer.from(before.cookie.secret), Buffer.from(config.cookie.secret)) !== 0 && !config.cookie.secretGenerated)
        needsRestart.push('cookie_secret')
      if (JSON.stringify(before.storage) !== JSON.stringify(config.storage)) needsRestart.push('databroker_storage_*')
      if (JSON.stringify(before.address) !== JSON.stringify(config.address)) needsRestart.push('address')
      if (before.signingKeyPem !== config.signingKeyPem) needsRestart.push('signing_key')
      // Keep what cannot change live; take routes, policies and everything else.
      snapshot = buildSnapshot({
        ...config,
        idp: before.idp,
        cookie: { ...config.cookie, secret: before.cookie.secret, secretGenerated: before.cookie.secretGenerated },
        storage: before.storage,
        address: before.address,
        signingKeyPem: before.signingKeyPem,
      })
      return needsRestart
    },
    async close() {
      closed = true
      if (retryTimer !== undefined) clearTimeout(retryTimer)
      const drain = opts.drainTimeoutMs ?? 10_000
      const timer = setTimeout(() => app.server.closeAllConnections(), drain)
      timer.unref()
      live.closeAll('gatehouse is shutting down')
      live.stop()
      await app.close()
      clearTimeout(timer)
      await dispatcher.close().catch(() => undefined)
      await store.close()
    },
  }
}

function isErr(err: unknown): { code?: string; message: string } {
  if (err instanceof Error) return { ...((err as { code?: string }).code === undefined ? {} : { code: (err as { code?: string }).code }), message: err.message }
  return { message: String(err) }
}
