import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { MetricsJson } from '../../../src/server/lifecycle/cluster-messages.js'
import { createMetrics } from '../../../src/server/telemetry/metrics.js'
import { aggregateClusterMetrics, metricsJson, retireMetrics } from '../../../src/server/telemetry/cluster-metrics.js'

const request = fc.record({
  worker: fc.integer({ min: 0, max: 2 }),
  route: fc.constantFrom('a.example.com', 'b.example.com/api', 'c "quoted"\\route'),
  outcome: fc.constantFrom('allow', 'deny', 'login'),
  status: fc.constantFrom(200, 302, 403),
  seconds: fc.option(fc.double({ min: 0, max: 40, noNaN: true }), { nil: undefined }),
})

const NAMES = ['gatehouse_requests_total', 'gatehouse_upstream_duration_seconds', 'gatehouse_denials_total']

async function only(text: Promise<string> | string): Promise<string> {
  // The series of the request metrics, without the process metrics around them; the order of series carries no meaning.
  const lines = (await text).split('\n')
  return lines
    .filter((l) => NAMES.some((n) => l.startsWith(n) || l.startsWith(`# HELP ${n}`) || l.startsWith(`# TYPE ${n}`)))
    .sort()
    .join('\n')
}

describe('cluster metrics', () => {
  it('the sum over workers of the hand-written request counter and latency histogram is what one process counting every request renders', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(request, { maxLength: 80 }), async (reqs) => {
        const workers = [createMetrics(), createMetrics(), createMetrics()]
        const single = createMetrics()
        for (const r of reqs) {
          for (const m of [workers[r.worker], single]) {
            m?.countRequest(r.route, r.outcome, r.status)
            if (r.seconds !== undefined) m?.observeUpstream(r.route, r.seconds)
            if (r.outcome === 'deny') m?.denials.inc({ route: r.route, criterion: 'groups' })
          }
        }
        const parts = new Map<number, MetricsJson>()
        for (const [i, w] of workers.entries()) parts.set(i + 1, await metricsJson(w.registry))
        const summed = aggregateClusterMetrics({ primary: await metricsJson(createMetrics().registry), workers: parts, retired: [] })
        expect(await only(summed.metrics())).toBe(await only(single.registry.metrics()))
      }),
      { numRuns: 25 },
    )
  })

  it('requests per worker carry a worker label; config reload state comes from the primary alone', async () => {
    const primary = createMetrics()
    primary.configLastReloadSuccess.set(0)
    const w1 = createMetrics()
    const w2 = createMetrics()
    for (let i = 0; i < 3; i++) w1.countRequest('a', 'allow', 200)
    w2.countRequest('a', 'deny', 403)
    const text = await aggregateClusterMetrics({
      primary: await metricsJson(primary.registry),
      workers: new Map([
        [1, await metricsJson(w1.registry)],
        [2, await metricsJson(w2.registry)],
      ]),
      retired: [],
    }).metrics()
    expect(text).toContain('gatehouse_worker_requests_total{worker="1"} 3')
    expect(text).toContain('gatehouse_worker_requests_total{worker="2"} 1')
    expect(text).toContain('gatehouse_requests_total{route="a",outcome="allow",status="200"} 3')
    // Three processes each report 1 or 0; the primary's 0 is the truth (its last reload was refused).
    expect(text).toMatch(/^gatehouse_config_last_reload_success 0$/m)
    expect(text).not.toMatch(/^gatehouse_requests_total\{worker=/m)
  })

  it("a worker's counts stay in the sums after it exits; its gauges do not", async () => {
    const w1 = createMetrics()
    const w2 = createMetrics()
    for (let i = 0; i < 5; i++) w1.countRequest('a', 'allow', 200)
    w1.observeUpstream('a', 0.002)
    w2.countRequest('a', 'allow', 200)
    const j1 = await metricsJson(w1.registry)
    const j2 = await metricsJson(w2.registry)
    const primary = await metricsJson(createMetrics().registry)
    const before = await aggregateClusterMetrics({
      primary,
      workers: new Map([
        [1, j1],
        [2, j2],
      ]),
      retired: [],
    }).metrics()
    const retired = await retireMetrics([], j1)
    expect(retired.every((m) => m.type === 'counter' || m.type === 'histogram')).toBe(true)
    // Worker 1 replaced by a fresh one that has served nothing yet.
    const after = await aggregateClusterMetrics({
      primary,
      workers: new Map([
        [1, await metricsJson(createMetrics().registry)],
        [2, j2],
      ]),
      retired,
    }).metrics()
    expect(before).toContain('gatehouse_requests_total{route="a",outcome="allow",status="200"} 6')
    expect(after).toContain('gatehouse_requests_total{route="a",outcome="allow",status="200"} 6')
    expect(after).toContain('gatehouse_upstream_duration_seconds_count{route="a"} 1')
    expect(after).toContain('gatehouse_worker_requests_total{worker="1"} 0')
    // Retiring twice adds up.
    const twice = await retireMetrics(retired, j2)
    const sum = await aggregateClusterMetrics({ primary, workers: new Map(), retired: twice }).metrics()
    expect(sum).toContain('gatehouse_requests_total{route="a",outcome="allow",status="200"} 6')
  })
})
