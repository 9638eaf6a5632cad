/**
 * The primary process of `serve` with `workers` > 1 (node:cluster). It serves
 * no request itself: it forks the workers, which share the listening sockets
 * (the main listener, HTTP or HTTPS, and WebSocket upgrades on it); replaces a
 * worker that dies, with back-off; validates each config reload once and hands
 * the validated inputs to every worker; serves `/metrics` once, summed over
 * the workers; and on SIGTERM/SIGINT drains every worker before exiting.
 */
import cluster, { type Worker } from 'node:cluster'
import { Counter, Gauge } from 'prom-client'
import type { Logger } from 'pino'
import { formatProblem, type CompiledConfig } from '../../config/index.js'
import { watchConfig } from './config-watcher.js'
import { createMetrics, serveMetrics } from '../telemetry/metrics.js'
import { createClusterMetrics } from '../telemetry/cluster-metrics.js'
import { isToPrimary, WORKER_SLOT_ENV, type MetricsJson, type ToPrimary, type ToWorker } from './cluster-messages.js'
import { loadConfigInputs, type ConfigInputs } from './config-inputs.js'

export interface SupervisorOptions {
  readonly count: number
  readonly file: string
  readonly env: ConfigInputs['env']
  readonly first: Loaded
  readonly log: Logger
  /** How long a worker's drain may take before it is killed. */
  readonly drainTimeoutMs?: number
}

interface Loaded {
  readonly config: CompiledConfig
  readonly inputs: ConfigInputs
}

interface Slot {
  readonly n: number
  worker: Worker | undefined
  listening: boolean
  /** The config sequence number this worker was given last. */
  seq: number
  startedAtMs: number
  /** Exits in a row without staying up for STABLE_MS. */
  failures: number
  timer: NodeJS.Timeout | undefined
}

/** A worker that stayed up this long is healthy: its next crash restarts it at once again. */
const STABLE_MS = 30_000
const FIRST_RESTART_DELAY_MS = 100
const MAX_RESTART_DELAY_MS = 30_000
const ANSWER_TIMEOUT_MS = 10_000
const METRICS_TIMEOUT_MS = 3_000

export function restartDelayMs(failures: number): number {
  return Math.min(MAX_RESTART_DELAY_MS, FIRST_RESTART_DELAY_MS * 2 ** Math.max(0, failures - 1))
}

/** Answers awaited from a set of workers; settles when all answered or exited, or on timeout. */
interface Round<A> {
  readonly waiting: Set<number>
  readonly answers: Map<number, A>
  readonly settle: () => void
}

export function runSupervisor(o: SupervisorOptions): Promise<number> {
  const { log } = o
  const drainTimeoutMs = o.drainTimeoutMs ?? 10_000
  let current = o.first
  let seq = 0
  let started = false
  let stopping = false
  let exitCode = 0
  const slots: Slot[] = Array.from({ length: o.count }, (_, i) => ({
    n: i + 1,
    worker: undefined,
    listening: false,
    seq: -1,
    startedAtMs: 0,
    failures: 0,
    timer: undefined,
  }))

  const metrics = createMetrics()
  const restarts = new Counter({
    name: 'gatehouse_worker_restarts_total',
    help: 'Workers that exited unexpectedly and were replaced, by worker slot.',
    labelNames: ['worker'],
    registers: [metrics.registry],
  })
  new Gauge({
    name: 'gatehouse_workers',
    help: 'Worker processes listening now.',
    registers: [metrics.registry],
    collect() {
      this.set(slots.filter((s) => s.listening).length)
    },
  })

  const configRounds = new Map<number, Round<ToPrimary & { gatehouse: 'applied' | 'refused' }>>()
  const metricRounds = new Map<number, Round<MetricsJson>>()
  let metricsId = 0

  function startRound<A>(rounds: Map<number, Round<A>>, id: number, targets: Slot[], ask: (w: Worker) => void, timeoutMs: number): Promise<Map<number, A>> {
    return new Promise((resolve) => {
      const round: Round<A> = {
        waiting: new Set(targets.map((s) => s.n)),
        answers: new Map(),
        settle: () => {
          clearTimeout(timer)
          rounds.delete(id)
          resolve(round.answers)
        },
      }
      const timer = setTimeout(round.settle, timeoutMs)
      rounds.set(id, round)
      for (const s of targets) if (s.worker !== undefined) ask(s.worker)
      if (round.waiting.size === 0) round.settle()
    })
  }
  function answer<A>(round: Round<A> | undefined, slot: number, a: A | undefined): void {
    if (round === undefined || !round.waiting.delete(slot)) return
    if (a !== undefined) round.answers.set(slot, a)
    if (round.waiting.size === 0) round.settle()
  }
  const send = (w: Worker, m: ToWorker): void => {
    if (w.isConnected()) w.send(m)
  }
  const live = (): Slot[] => slots.filter((s) => s.worker !== undefined && s.listening)

  const clusterMetrics = createClusterMetrics({
    primary: metrics.registry,
    collect: () => {
      const id = ++metricsId
      return startRound(metricRounds, id, live(), (w) => send(w, { gatehouse: 'metrics', id }), METRICS_TIMEOUT_MS)
    },
  })

  let resolveStarted!: (url: string) => void
  let rejectStarted!: (err: Error) => void
  const whenStarted = new Promise<string>((resolve, reject) => ((resolveStarted = resolve), (rejectStarted = reject)))
  let firstUrl = ''

  function fork(slot: Slot): void {
    slot.timer = undefined
    if (stopping) return
    const w = cluster.fork({ [WORKER_SLOT_ENV]: String(slot.n) })
    slot.worker = w
    slot.listening = false
    slot.startedAtMs = Date.now()
    w.on('message', (m: unknown) => {
      if (slot.worker === w && isToPrimary(m)) onMessage(slot, w, m)
    })
    w.on('exit', (code, signal) => onExit(slot, w, code, signal))
  }

  function onMessage(slot: Slot, w: Worker, m: ToPrimary): void {
    switch (m.gatehouse) {
      case 'want-config':
        slot.seq = seq
        send(w, { gatehouse: 'config', seq, inputs: current.inputs })
        return
      case 'listening':
        slot.listening = true
        // A reload that happened while this worker was starting.
        if (slot.seq !== seq) {
          slot.seq = seq
          send(w, { gatehouse: 'config', seq, inputs: current.inputs })
        }
        log.info({ worker: slot.n, pid: w.process.pid, replacement: started }, 'worker listening')
        if (!started) {
          firstUrl = m.url
          if (slots.every((s) => s.listening)) {
            started = true
            resolveStarted(firstUrl)
          }
        }
        return
      case 'start-failed':
        log.error({ worker: slot.n, problem: m.message }, 'worker could not start')
        return
      case 'applied':
      case 'refused':
        answer(configRounds.get(m.seq), slot.n, m)
        return
      case 'metrics':
        answer(metricRounds.get(m.id), slot.n, m.metrics)
        return
      case 'reload':
        void watcher.reload(true)
        return
    }
  }

  function onExit(slot: Slot, w: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== w) return
    slot.worker = undefined
    slot.listening = false
    clusterMetrics.retire(slot.n)
    for (const r of configRounds.values()) answer(r, slot.n, undefined)
    for (const r of metricRounds.values()) answer(r, slot.n, undefined)
    if (stopping) {
      if (code !== 0) exitCode = 1
      if (slots.every((s) => s.worker === undefined)) finish()
      return
    }
    if (!started) {
      rejectStarted(new Error(`worker ${slot.n} exited while starting (${signal ?? `code ${code}`})`))
      return
    }
    slot.failures = Date.now() - slot.startedAtMs >= STABLE_MS ? 1 : slot.failures + 1
    const delay = restartDelayMs(slot.failures)
    restarts.inc({ worker: slot.n })
    log.error(
      { worker: slot.n, pid: w.process.pid, code, signal, restartInMs: delay, failuresInARow: slot.failures },
      'worker exited unexpectedly; starting a replacement',
    )
    slot.timer = setTimeout(() => fork(slot), delay)
  }

  // Reloads: validated here once; every worker compiles the same inputs.
  const watcher = watchConfig<Loaded>({
    file: o.file,
    load: async () => {
      const r = loadConfigInputs(o.file, o.env, current.inputs.generatedCookieSecret)
      return 'problems' in r ? { problems: r.problems.map(formatProblem) } : { config: { config: r.config, inputs: r.inputs } }
    },
    apply: async (next) => {
      const before = current.config
      current = next
      const id = ++seq
      const answers = await startRound(
        configRounds,
        id,
        live(),
        (w) => {
          const s = slots.find((x) => x.worker === w)
          if (s !== undefined) s.seq = id
          send(w, { gatehouse: 'config', seq: id, inputs: next.inputs })
        },
        ANSWER_TIMEOUT_MS,
      )
      const needsRestart = new Set<string>()
      if (String(before.workers) !== String(next.config.workers)) needsRestart.add('workers')
      if (JSON.stringify(before.metricsAddress) !== JSON.stringify(next.config.metricsAddress)) needsRestart.add('metrics_address')
      if (before.logLevel !== next.config.logLevel) needsRestart.add('log_level')
      const refusedBy: number[] = []
      for (const [n, a] of answers) {
        if (a.gatehouse === 'applied') for (const k of a.needsRestart) needsRestart.add(k)
        else {
          refusedBy.push(n)
          log.error({ worker: n, problems: a.problems }, 'a worker could not apply the validated config')
        }
      }
      metrics.configReloads.inc({ result: 'ok' })
      metrics.configLastReloadSuccess.set(1)
      metrics.configLastReloadSuccessTimestamp.set(Date.now() / 1000)
      log.info({ routes: next.config.routes.length, workers: answers.size - refusedBy.length }, 'config reloaded')
      if (needsRestart.size > 0)
        log.warn({ keys: [...needsRestart] }, 'these settings changed but need a restart to take effect; the old values are still in use')
    },
    onRefused: (problems) => {
      metrics.configReloads.inc({ result: 'refused' })
      metrics.configLastReloadSuccess.set(0)
      log.error({ problems }, 'config reload refused; the previous config keeps serving')
    },
    onError: (err) => log.error({ err: { message: err instanceof Error ? err.message : String(err) } }, 'config watch error'),
  })

  let metricsServer: { url: string; close(): Promise<void> } | undefined
  let finished!: (code: number) => void
  const done = new Promise<number>((resolve) => (finished = resolve))
  let killTimer: NodeJS.Timeout | undefined

  function finish(): void {
    if (killTimer !== undefined) clearTimeout(killTimer)
    Promise.resolve(metricsServer?.close()).then(
      () => {
        log.info('stopped')
        log.flush()
        finished(exitCode)
      },
      () => finished(1),
    )
  }

  function stop(signal: string): void {
    if (stopping) return
    stopping = true
    watcher.close()
    process.off('SIGHUP', hup)
    for (const s of slots) if (s.timer !== undefined) clearTimeout(s.timer)
    const running = slots.filter((s) => s.worker !== undefined)
    log.info({ signal, workers: running.length }, 'shutting down: draining requests in flight')
    if (running.length === 0) return finish()
    for (const s of running) if (s.worker !== undefined) send(s.worker, { gatehouse: 'drain' })
    killTimer = setTimeout(() => {
      for (const s of slots) {
        if (s.worker === undefined) continue
        log.error({ worker: s.n, pid: s.worker.process.pid }, 'worker did not drain in time; killing it')
        s.worker.process.kill('SIGKILL')
      }
    }, drainTimeoutMs + 5_000)
  }
  const hup = (): void => void watcher.reload(true)
  process.on('SIGHUP', hup)
  process.once('SIGTERM', () => stop('SIGTERM'))
  process.once('SIGINT', () => stop('SIGINT'))

  for (const s of slots) fork(s)
  whenStarted.then(
    async (url) => {
      const c = current.config
      log.info({ url, workers: o.count, routes: c.routes.length, store: c.storage.type }, 'gatehouse listening')
      if (c.metricsAddress !== undefined && !stopping) {
        try {
          metricsServer = await serveMetrics({ registry: clusterMetrics }, c.metricsAddress)
          log.info({ url: metricsServer.url }, 'metrics listening')
        } catch (err) {
          log.error({ err: { message: err instanceof Error ? err.message : String(err) } }, 'cannot serve metrics; stopping')
          exitCode = 1
          stop('startup failure')
        }
      }
    },
    (err: unknown) => {
      log.error({ err: { message: err instanceof Error ? err.message : String(err) } }, 'gatehouse could not start its workers; stopping')
      exitCode = 1
      stop('startup failure')
    },
  )
  return done
}
