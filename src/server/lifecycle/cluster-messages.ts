/**
 * What the primary and its workers say to each other over the cluster's IPC
 * channel. Every message carries `gatehouse` as its tag so that nothing else
 * on the channel (Node's own cluster messages) is mistaken for one.
 */
import type { ConfigInputs } from './config-inputs.js'

/** One metric as prom-client's getMetricsAsJSON gives it (its typings name the type an enum; at run time it is 'counter', 'gauge', …). */
export interface MetricJson {
  readonly name: string
  readonly help: string
  readonly type: string
  readonly aggregator: string
  readonly values: ReadonlyArray<{ readonly value: number; readonly labels: Readonly<Record<string, string | number>>; readonly metricName?: string }>
}

export type MetricsJson = readonly MetricJson[]

export type ToWorker =
  /** The config to start with, or to reload to. */
  | { readonly gatehouse: 'config'; readonly seq: number; readonly inputs: ConfigInputs }
  /** Stop taking connections, finish requests in flight, exit. */
  | { readonly gatehouse: 'drain' }
  /** Send this process's metrics. */
  | { readonly gatehouse: 'metrics'; readonly id: number }

export type ToPrimary =
  | { readonly gatehouse: 'want-config' }
  | { readonly gatehouse: 'listening'; readonly url: string }
  | { readonly gatehouse: 'start-failed'; readonly message: string }
  | { readonly gatehouse: 'applied'; readonly seq: number; readonly needsRestart: readonly string[] }
  | { readonly gatehouse: 'refused'; readonly seq: number; readonly problems: readonly string[] }
  | { readonly gatehouse: 'metrics'; readonly id: number; readonly metrics: MetricsJson }
  /** A SIGHUP reached this worker: reload for everyone. */
  | { readonly gatehouse: 'reload' }

function tagged(m: unknown): m is { gatehouse: string } {
  return typeof m === 'object' && m !== null && typeof (m as { gatehouse?: unknown }).gatehouse === 'string'
}

export function isToWorker(m: unknown): m is ToWorker {
  return tagged(m) && ['config', 'drain', 'metrics'].includes(m.gatehouse)
}

export function isToPrimary(m: unknown): m is ToPrimary {
  return tagged(m) && ['want-config', 'listening', 'start-failed', 'applied', 'refused', 'metrics', 'reload'].includes(m.gatehouse)
}

/** The slot (1…N) a worker fills; a replacement takes the slot of the worker it replaces. */
export const WORKER_SLOT_ENV = 'GATEHOUSE_WORKER'
