/**
 * One worker process of `serve` with `workers` > 1: asks the primary for the
 * config, serves on the listeners the cluster shares, applies the reloads the
 * primary sends, answers its metrics requests, and drains when told (or on
 * SIGTERM/SIGINT, or when the primary is gone). It never reads the config
 * file itself: the primary has validated what it sends.
 */
import type { Logger } from 'pino'
import { formatProblem } from '../../config/index.js'
import { createLogDestination } from '../telemetry/log-destination.js'
import { createLogger } from '../telemetry/logger.js'
import { createMetrics } from '../telemetry/metrics.js'
import { startGatehouse, type RunningGatehouse } from './start.js'
import { metricsJson } from '../telemetry/cluster-metrics.js'
import { isToWorker, WORKER_SLOT_ENV, type ToPrimary, type ToWorker } from './cluster-messages.js'
import { compileConfigInputs } from './config-inputs.js'

export interface WorkerOptions {
  /** How long a drain waits for requests in flight. */
  readonly drainTimeoutMs?: number
}

function send(m: ToPrimary): void {
  if (process.connected) process.send?.(m)
}

/** Messages that arrive while the worker is still starting wait here (an IPC message with no listener is lost). */
function listen(): { next(): Promise<ToWorker>; onEach(fn: (m: ToWorker) => void): void; inject(m: ToWorker): void } {
  const queue: ToWorker[] = []
  let wake: (() => void) | undefined
  let handler: ((m: ToWorker) => void) | undefined
  const take = (m: ToWorker): void => {
    if (handler !== undefined) return handler(m)
    queue.push(m)
    wake?.()
  }
  process.on('message', (m: unknown) => {
    if (isToWorker(m)) take(m)
  })
  return {
    inject: take,
    async next() {
      while (queue.length === 0) await new Promise<void>((r) => (wake = r))
      return queue.shift() as ToWorker
    },
    onEach(fn) {
      handler = fn
      for (const m of queue.splice(0)) fn(m)
    },
  }
}

export async function runWorker(opts: WorkerOptions = {}): Promise<number> {
  const slot = Number(process.env[WORKER_SLOT_ENV] ?? '0')
  const inbox = listen()
  let stopAsked: string | undefined
  const early = (why: string) => () => void (stopAsked ??= why)
  process.once('SIGTERM', early('SIGTERM'))
  process.once('SIGINT', early('SIGINT'))
  process.once('disconnect', () => {
    stopAsked ??= 'the primary process is gone'
    // Still waiting for a config that will never come: stop now.
    inbox.inject({ gatehouse: 'drain' })
  })
  // SIGHUP's default would kill the worker: ask the primary to reload everyone instead.
  process.on('SIGHUP', () => send({ gatehouse: 'reload' }))

  send({ gatehouse: 'want-config' })
  let first: ToWorker
  do first = await inbox.next()
  while (first.gatehouse === 'metrics')
  if (first.gatehouse === 'drain') return 0
  const loaded = compileConfigInputs(first.inputs)
  if ('problems' in loaded) {
    send({ gatehouse: 'start-failed', message: loaded.problems.map(formatProblem).join('\n') })
    return 1
  }
  const log: Logger = createLogger(loaded.config.logLevel, createLogDestination(1, { shared: true })).child({ worker: slot })
  const metrics = createMetrics()
  let gh: RunningGatehouse
  try {
    gh = await startGatehouse({ config: loaded.config, log, metrics, ...(opts.drainTimeoutMs === undefined ? {} : { drainTimeoutMs: opts.drainTimeoutMs }) })
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    log.error({ err: { code: (err as { code?: string }).code, message } }, 'worker could not start')
    log.flush()
    send({ gatehouse: 'start-failed', message })
    return 1
  }
  send({ gatehouse: 'listening', url: gh.url })

  return new Promise<number>((done) => {
    let stopping = false
    const stop = (why: string): void => {
      if (stopping) return
      stopping = true
      log.info({ why }, 'worker draining requests in flight')
      gh.close().then(
        () => {
          log.info('worker stopped')
          log.flush()
          done(0)
        },
        (err: unknown) => {
          log.error({ err: { message: String(err) } }, 'error while stopping')
          log.flush()
          done(1)
        },
      )
    }
    inbox.onEach((m) => {
      switch (m.gatehouse) {
        case 'config': {
          const next = compileConfigInputs(m.inputs)
          if ('problems' in next) send({ gatehouse: 'refused', seq: m.seq, problems: next.problems.map(formatProblem) })
          else send({ gatehouse: 'applied', seq: m.seq, needsRestart: gh.reload(next.config) })
          return
        }
        case 'metrics':
          metricsJson(metrics.registry).then(
            (json) => send({ gatehouse: 'metrics', id: m.id, metrics: json }),
            () => send({ gatehouse: 'metrics', id: m.id, metrics: [] }),
          )
          return
        case 'drain':
          stop('asked by the primary')
          return
      }
    })
    // The primary drains everyone on SIGTERM; a signal sent to this worker alone (or Ctrl-C to the process group) drains it.
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
    // A primary that is gone (killed) cannot restart or drain this worker: the early handler injected a drain.
    if (stopAsked !== undefined) stop(stopAsked)
  })
}
