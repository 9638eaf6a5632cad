/**
 * Prometheus metrics (prom-client) on `metrics_address`, a listener of its
 * own so that metrics are never reachable through a route host.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export interface Metrics {
  /** Count a finished request; label children are cached so the hot path does one Map lookup. */
  countRequest(route: string, outcome: string, status: number): void
  /** Record the upstream's time to response headers for a route (cached child, as above). */
  observeUpstream(route: string, seconds: number): void
  readonly registry: Registry
  readonly requests: Counter<'route' | 'outcome' | 'status'>
  readonly denials: Counter<'route' | 'criterion'>
  readonly upstreamSeconds: Histogram<'route'>
  readonly signIns: Counter<'result'>
  readonly refreshes: Counter<'result'>
  readonly jwksFetches: Counter<'result'>
  readonly storeErrors: Counter<'op'>
  readonly configReloads: Counter<'result'>
  readonly configLastReloadSuccess: Gauge
  readonly configLastReloadSuccessTimestamp: Gauge
}

export function createMetrics(): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'gatehouse_process_' })
  const children = new Map<string, { inc(): void }>()
  const upstreamChildren = new Map<string, { observe(v: number): void }>()
  const m: Metrics = {
    countRequest(route, outcome, status) {
      const key = `${route}\n${outcome}\n${status}`
      let child = children.get(key)
      if (child === undefined) {
        child = m.requests.labels(route, outcome, String(status))
        if (children.size < 10_000) children.set(key, child)
      }
      child.inc()
    },
    observeUpstream(route, seconds) {
      let child = upstreamChildren.get(route)
      if (child === undefined) {
        child = m.upstreamSeconds.labels(route)
        if (upstreamChildren.size < 10_000) upstreamChildren.set(route, child)
      }
      child.observe(seconds)
    },
    registry,
    requests: new Counter({ name: 'gatehouse_requests_total', help: 'Requests by route, outcome (allow, deny, login, error, special, not-found) and status.', labelNames: ['route', 'outcome', 'status'], registers: [registry] }),
    denials: new Counter({ name: 'gatehouse_denials_total', help: 'Denied requests by route and deciding criterion.', labelNames: ['route', 'criterion'], registers: [registry] }),
    upstreamSeconds: new Histogram({ name: 'gatehouse_upstream_duration_seconds', help: 'Time to the upstream response headers.', labelNames: ['route'], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [registry] }),
    signIns: new Counter({ name: 'gatehouse_sign_ins_total', help: 'Completed sign-in callbacks by result.', labelNames: ['result'], registers: [registry] }),
    refreshes: new Counter({ name: 'gatehouse_session_refreshes_total', help: 'Session refreshes at the IdP by result (ok, ended, transient_error).', labelNames: ['result'], registers: [registry] }),
    jwksFetches: new Counter({ name: 'gatehouse_jwks_fetches_total', help: 'JWKS fetches from the IdP by result.', labelNames: ['result'], registers: [registry] }),
    storeErrors: new Counter({ name: 'gatehouse_session_store_errors_total', help: 'Session store operations that failed.', labelNames: ['op'], registers: [registry] }),
    configReloads: new Counter({ name: 'gatehouse_config_reloads_total', help: 'Config reloads by result.', labelNames: ['result'], registers: [registry] }),
    configLastReloadSuccess: new Gauge({ name: 'gatehouse_config_last_reload_success', help: '1 when the last config reload succeeded (or none was tried), 0 when it was refused.', registers: [registry] }),
    configLastReloadSuccessTimestamp: new Gauge({ name: 'gatehouse_config_last_reload_success_timestamp_seconds', help: 'When the config was last loaded successfully.', registers: [registry] }),
  }
  m.configLastReloadSuccess.set(1)
  m.configLastReloadSuccessTimestamp.set(Date.now() / 1000)
  return m
}

export async function serveMetrics(metrics: Metrics, address: { host: string; port: number }): Promise<{ url: string; close(): Promise<void> }> {
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
