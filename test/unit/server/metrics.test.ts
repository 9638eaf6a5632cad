import fc from 'fast-check'
import { Histogram, Registry, type Metric } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { createMetrics, RouteHistogram } from '../../../src/server/telemetry/metrics.js'

const BOUNDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

describe('metrics', () => {
  it("RouteHistogram renders exactly what prom-client's Histogram renders for the same observations", async () => {
    const observation = fc.record({
      route: fc.constantFrom('a.example.com', 'b.example.com/api', 'c "quoted"\\route'),
      v: fc.oneof(fc.double({ min: 0, max: 60, noNaN: true }), fc.constantFrom(...BOUNDS)),
    })
    await fc.assert(
      fc.asyncProperty(fc.array(observation, { maxLength: 60 }), async (obs) => {
        const ours = new Registry()
        const h = new RouteHistogram('x_seconds', 'help text', BOUNDS)
        ours.registerMetric(h as unknown as Metric)
        const reference = new Registry()
        const ref = new Histogram({ name: 'x_seconds', help: 'help text', labelNames: ['route'], buckets: BOUNDS, registers: [reference] })
        for (const { route, v } of obs) {
          h.observe(route, v)
          ref.labels(route).observe(v)
        }
        expect(await ours.metrics()).toBe(await reference.metrics())
      }),
      { numRuns: 200 },
    )
  })

  it('request counts reach the scrape, and later ones add to them', async () => {
    const m = createMetrics()
    for (let i = 0; i < 3; i++) m.countRequest('app.example.com', 'allow', 200)
    m.countRequest('app.example.com', 'deny', 403)
    let text = await m.registry.metrics()
    expect(text).toContain('gatehouse_requests_total{route="app.example.com",outcome="allow",status="200"} 3')
    expect(text).toContain('gatehouse_requests_total{route="app.example.com",outcome="deny",status="403"} 1')
    m.countRequest('app.example.com', 'allow', 200)
    text = await m.registry.metrics()
    expect(text).toContain('gatehouse_requests_total{route="app.example.com",outcome="allow",status="200"} 4')
    m.observeUpstream('app.example.com', 0.003)
    expect(await m.registry.metrics()).toContain('gatehouse_upstream_duration_seconds_bucket{le="0.005",route="app.example.com"} 1')
  })
})
