/**
 * Where log lines go: stdout, in batches. A log line per request must cost
 * neither a write system call per request nor a copy of the pending buffer
 * per request, so lines are collected here and handed to pino's writer
 * (sonic-boom, which owns the file descriptor, partial writes and EAGAIN) as
 * one string of about 16 KiB, or after at most `maxDelayMs` on a quiet server.
 *
 * (Handing sonic-boom each line with a large `minLength` instead made it
 * measure its whole pending buffer on every write: V8 flattened that growing
 * string once per request, several KB of copying per request.)
 */
import pino, { type DestinationStream } from 'pino'

export interface LogDestination extends DestinationStream {
  write(line: string): void
  /** Hand the pending lines to the writer; `done` runs once they are written. */
  flush(done?: (err?: Error) => void): void
  /** Write everything now, synchronously (process exit). */
  flushSync(): void
}

/**
 * Largest write a pipe takes in one piece (POSIX PIPE_BUF on Linux): with
 * several worker processes writing into one stdout pipe, a longer write may
 * be interleaved with another process's and cut lines in half.
 */
export const PIPE_ATOMIC_BYTES = 4096

export interface LogDestinationOptions {
  readonly batchBytes?: number
  readonly maxDelayMs?: number
  /**
   * Several processes share the file descriptor (worker processes): every
   * write is whole lines and at most PIPE_ATOMIC_BYTES, so lines never mix.
   */
  readonly shared?: boolean
}

export function createLogDestination(fd = 1, opts: LogDestinationOptions = {}): LogDestination {
  const batchBytes = opts.shared === true ? PIPE_ATOMIC_BYTES : (opts.batchBytes ?? 16_384)
  const maxDelayMs = opts.maxDelayMs ?? 200
  // sonic-boom groups queued writes into chunks of at most maxWrite bytes, each made of whole writes.
  const writer = pino.destination({ dest: fd, sync: false, minLength: 0, ...(opts.shared === true ? { maxWrite: PIPE_ATOMIC_BYTES } : {}) })
  let parts: string[] = []
  let pending = 0
  let timer: NodeJS.Timeout | undefined

  function handOver(): void {
    if (timer !== undefined) {
      clearTimeout(timer)
      timer = undefined
    }
    if (parts.length === 0) return
    const text = parts.length === 1 ? (parts[0] as string) : parts.join('')
    parts = []
    pending = 0
    writer.write(text)
  }

  const dest: LogDestination = {
    write(line) {
      // Shared: count bytes, so that a batch is never more than one atomic pipe write.
      const size = opts.shared === true ? Buffer.byteLength(line) : line.length
      if (opts.shared === true && pending + size > batchBytes) handOver()
      parts.push(line)
      pending += size
      if (pending >= batchBytes) handOver()
      else if (timer === undefined) timer = setTimeout(handOver, maxDelayMs).unref()
    },
    flush(done) {
      handOver()
      writer.flush(done)
    },
    flushSync() {
      handOver()
      try {
        writer.flushSync()
      } catch {
        // Not open yet, or already closed: nothing more can be written.
      }
    },
  }
  process.once('exit', () => dest.flushSync())
  return dest
}
