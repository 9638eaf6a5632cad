/**
 * `/metrics` for a cluster of workers, served once by the primary: the sum
 * over workers, with prom-client's cluster aggregation (each metric's own
 * aggregator: counters and histograms add up, event-loop lag is averaged,
 * version info is taken once). Added around it:
 *   - config reload metrics come from the primary only (it validates and
 *     applies reloads; a worker's copies would add up to nonsense);
 *   - a worker that exits leaves its counters and histograms behind, as last
 *     scraped, so the sums never go down when a worker is replaced (Prometheus
 *     would read a drop as a counter reset and count everything again);
 *   - one series with a `worker` label where the split helps: requests per
 *     worker (is the load spread?), restarts and the live worker count come
 *     from the primary's own metrics.
 */
import { AggregatorRegistry, Registry } from 'prom-client'
import type { MetricJson, MetricsJson } from '../lifecycle/cluster-messages.js'

type Aggregate = Parameters<typeof AggregatorRegistry.aggregate>[0]

function aggregate(parts: readonly MetricsJson[]): Registry {
  return AggregatorRegistry.aggregate(parts as unknown as Aggregate)
}

export async function metricsJson(registry: Registry): Promise<MetricsJson> {
  return (await registry.getMetricsAsJSON()) as unknown as MetricsJson
}

/** Metric names the primary owns: the workers' copies are left out. */
const PRIMARY_ONLY = /^gatehouse_config_/
const REQUESTS = 'gatehouse_requests_total'

export interface ClusterMetricsOptions {
  /** The primary's own registry (process, config reloads, worker restarts). */
  readonly primary: Registry
  /** Ask every live worker for its metrics; the map holds those that answered, by slot. */
  readonly collect: () => Promise<ReadonlyMap<number, MetricsJson>>
}

export interface ClusterMetrics {
  /** Prometheus text of the whole cluster. */
  metrics(): Promise<string>
  readonly contentType: string
  /** A worker exited: keep its last counts in the sums. */
  retire(slot: number): void
}

export function createClusterMetrics(o: ClusterMetricsOptions): ClusterMetrics {
  const lastSeen = new Map<number, MetricsJson>()
  let retired: MetricsJson = []
  let folding: Promise<void> = Promise.resolve()
  return {
    contentType: o.primary.contentType,
    async metrics() {
      await folding
      const [primary, answered] = await Promise.all([metricsJson(o.primary), o.collect()])
      for (const [slot, json] of answered) lastSeen.set(slot, json)
      // A live worker too busy to answer in time counts with its last answer, so that no sum goes down.
      return aggregateClusterMetrics({ primary, workers: lastSeen, retired }).metrics()
    },
    retire(slot) {
      const last = lastSeen.get(slot)
      lastSeen.delete(slot)
      if (last === undefined) return
      const before = retired
      folding = folding.then(async () => {
        retired = await retireMetrics(before, last)
      })
    },
  }
}

export interface ClusterParts {
  readonly primary: MetricsJson
  readonly workers: ReadonlyMap<number, MetricsJson>
  /** Counters and histograms of workers that have exited. */
  readonly retired: MetricsJson
}

export function aggregateClusterMetrics(p: ClusterParts): Registry {
  const parts: MetricsJson[] = [p.primary, p.retired]
  const perWorker: MetricJson['values'][number][] = []
  for (const [slot, json] of [...p.workers].sort((a, b) => a[0] - b[0])) {
    parts.push(json.filter((m) => !PRIMARY_ONLY.test(m.name)))
    const requests = json.find((m) => m.name === REQUESTS)
    perWorker.push({ labels: { worker: slot }, value: requests === undefined ? 0 : requests.values.reduce((n, v) => n + v.value, 0) })
  }
  if (perWorker.length > 0)
    parts.push([
      {
        name: 'gatehouse_worker_requests_total',
        help: 'Requests served by each worker process since it started (how the load is spread).',
        type: 'counter',
        aggregator: 'sum',
        values: perWorker,
      },
    ])
  return aggregate(parts)
}

/** Fold a departed worker's counters and histograms into the retired sums (gauges describe live processes only). */
export async function retireMetrics(retired: MetricsJson, last: MetricsJson): Promise<MetricsJson> {
  const kept = last.filter((m) => (m.type === 'counter' || m.type === 'histogram') && m.aggregator === 'sum' && !PRIMARY_ONLY.test(m.name))
  return metricsJson(aggregate([retired, kept]))
}
