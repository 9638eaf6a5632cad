/**
 * Prometheus metrics (prom-client) on `metrics_address`, a listener of its
 * own so that metrics are never reachable through a route host.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client'

export interface Metrics {
  /** Count a finished request: a plain number added to, handed to prom-client at scrape time. */
  countRequest(route: string, outcome: string, status: number): void
  /** Record the upstream's time to response headers for a route. */
  observeUpstream(route: string, seconds: number): void
  readonly registry: Registry
  readonly requests: Counter<'route' | 'outcome' | 'status'>
  readonly denials: Counter<'route' | 'criterion'>
  readonly signIns: Counter<'result'>
  readonly refreshes: Counter<'result'>
  readonly jwksFetches: Counter<'result'>
  readonly storeErrors: Counter<'op'>
  /** IdP-started logouts by channel (frontchannel, backchannel, global_token_revocation) and result. */
  readonly idpLogouts: Counter<'channel' | 'result'>
  /** Open WebSockets/streams closed by gatehouse, by why (session_ended, expired, recheck). */
  readonly connectionsClosed: Counter<'reason'>
  readonly configReloads: Counter<'result'>
  readonly configLastReloadSuccess: Gauge
  readonly configLastReloadSuccessTimestamp: Gauge
}

/**
 * Per-request metrics cost a Map lookup and an addition. prom-client's own
 * `inc`/`observe` check and hash the labels on every call (even on a cached
 * child), which showed in profiles of the proxied path; the request counter is
 * therefore a plain count per label set moved into prom-client when scraped,
 * and the latency histogram keeps its own buckets and renders them itself.
 */
const MAX_LABEL_SETS = 10_000

interface PendingCount {
  readonly route: string
  readonly outcome: string
  readonly status: string
  n: number
}

interface RouteBuckets {
  /** Non-cumulative: counts[i] holds observations in (bounds[i-1], bounds[i]]; the last is +Inf. */
  readonly counts: Float64Array
  sum: number
  count: number
}

/** A Prometheus histogram with one label, `route`, in the shape prom-client's registry renders. */
export class RouteHistogram {
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  private readonly byRoute = new Map<string, RouteBuckets>()

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
  ) {}

  observe(route: string, value: number): void {
    if (!Number.isFinite(value)) return
    let r = this.byRoute.get(route)
    if (r === undefined) {
      if (this.byRoute.size >= MAX_LABEL_SETS) return
      r = { counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 }
      this.byRoute.set(route, r)
    }
    let i = 0
    while (i < this.bounds.length && value > (this.bounds[i] as number)) i++
    r.counts[i] = (r.counts[i] ?? 0) + 1
    r.sum += value
    r.count++
  }

  get(): Promise<{
    name: string
    help: string
    type: 'histogram'
    aggregator: 'sum'
    values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }>
  }> {
    const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = []
    for (const [route, r] of this.byRoute) {
      let cumulative = 0
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += r.counts[i] as number
        values.push({
          metricName: `${this.name}_bucket`,
          labels: { le: i < this.bounds.length ? (this.bounds[i] as number) : '+Inf', route },
          value: cumulative,
        })
      }
      values.push({ metricName: `${this.name}_sum`, labels: { route }, value: r.sum })
      values.push({ metricName: `${this.name}_count`, labels: { route }, value: r.count })
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values })
  }

  reset(): void {
    this.byRoute.clear()
  }
}

export function createMetrics(): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'gatehouse_process_' })
  const pending = new Map<string, PendingCount>()
  const upstreamSeconds = new RouteHistogram(
    'gatehouse_upstream_duration_seconds',
    'Time to the upstream response headers.',
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  )
  registry.registerMetric(upstreamSeconds as unknown as Metric)
  const m: Metrics = {
    countRequest(route, outcome, status) {
      const key = `${route}\n${outcome}\n${status}`
      const p = pending.get(key)
      if (p !== undefined) p.n++
      else if (pending.size < MAX_LABEL_SETS) pending.set(key, { route, outcome, status: String(status), n: 1 })
    },
    observeUpstream(route, seconds) {
      upstreamSeconds.observe(route, seconds)
    },
    registry,
    requests: new Counter({
      name: 'gatehouse_requests_total',
      help: 'Requests by route, outcome (allow, deny, login, error, special, not-found) and status.',
      labelNames: ['route', 'outcome', 'status'],
      registers: [registry],
      collect() {
        for (const p of pending.values()) {
          if (p.n === 0) continue
          this.labels(p.route, p.outcome, p.status).inc(p.n)
          p.n = 0
        }
      },
    }),
    denials: new Counter({
      name: 'gatehouse_denials_total',
      help: 'Denied requests by route and deciding criterion.',
      labelNames: ['route', 'criterion'],
      registers: [registry],
    }),
    signIns: new Counter({ name: 'gatehouse_sign_ins_total', help: 'Completed sign-in callbacks by result.', labelNames: ['result'], registers: [registry] }),
    refreshes: new Counter({
      name: 'gatehouse_session_refreshes_total',
      help: 'Session refreshes at the IdP by result (ok, ended, transient_error).',
      labelNames: ['result'],
      registers: [registry],
    }),
    jwksFetches: new Counter({
      name: 'gatehouse_jwks_fetches_total',
      help: 'JWKS fetches from the IdP by result.',
      labelNames: ['result'],
      registers: [registry],
    }),
    storeErrors: new Counter({
      name: 'gatehouse_session_store_errors_total',
      help: 'Session store operations that failed.',
      labelNames: ['op'],
      registers: [registry],
    }),
    idpLogouts: new Counter({
      name: 'gatehouse_idp_logouts_total',
      help: 'Logouts started by the IdP, by channel and result (ok, invalid, unknown_user, error).',
      labelNames: ['channel', 'result'],
      registers: [registry],
    }),
    connectionsClosed: new Counter({
      name: 'gatehouse_connections_closed_total',
      help: 'Open WebSockets and streamed responses closed by gatehouse because their session ended, expired, or is no longer allowed.',
      labelNames: ['reason'],
      registers: [registry],
    }),
    configReloads: new Counter({ name: 'gatehouse_config_reloads_total', help: 'Config reloads by result.', labelNames: ['result'], registers: [registry] }),
    configLastReloadSuccess: new Gauge({
      name: 'gatehouse_config_last_reload_success',
      help: '1 when the last config reload succeeded (or none was tried), 0 when it was refused.',
      registers: [registry],
    }),
    configLastReloadSuccessTimestamp: new Gauge({
      name: 'gatehouse_config_last_reload_success_timestamp_seconds',
      help: 'When the config was last loaded successfully.',
      registers: [registry],
    }),
  }
  m.configLastReloadSuccess.set(1)
  m.configLastReloadSuccessTimestamp.set(Date.now() / 1000)
  return m
}

/** What the metrics listener renders: a process's registry, or a cluster's sums. */
export interface MetricsSource {
  readonly registry: { metrics(): Promise<string>; readonly contentType: string }
}

export async function serveMetrics(metrics: MetricsSource, address: { host: string; port: number }): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.url !== '/metrics' && req.url !== '/') {
      res.writeHead(404).end()
      return
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      () => res.writeHead(500).end(),
    )
  })
  await new Promise<void>((resolve) => server.listen(address.port, address.host, resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://${address.host.includes(':') ? `[${address.host}]` : address.host}:${port}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
