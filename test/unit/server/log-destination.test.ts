import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createLogDestination } from '../../../src/server/telemetry/log-destination.js'

function tempFd(): { fd: number; file: string } {
  const file = join(mkdtempSync(join(tmpdir(), 'gatehouse-log-')), 'out.log')
  return { fd: openSync(file, 'a'), file }
}

describe('log destination', () => {
  it('writes every line once, in order, across many batches', () => {
    const { fd, file } = tempFd()
    const dest = createLogDestination(fd, { batchBytes: 1000 })
    const lines = Array.from({ length: 5000 }, (_, i) => `{"n":${i},"pad":"${'x'.repeat(i % 97)}","u":"é€"}\n`)
    for (const l of lines) dest.write(l)
    dest.flushSync()
    closeSync(fd)
    expect(readFileSync(file, 'utf8')).toBe(lines.join(''))
  })

  it('a lone line on a quiet server is written without a flush', async () => {
    const { fd, file } = tempFd()
    const dest = createLogDestination(fd, { maxDelayMs: 5 })
    dest.write('{"msg":"alone"}\n')
    await expect.poll(() => readFileSync(file, 'utf8'), { timeout: 5000, interval: 10 }).toBe('{"msg":"alone"}\n')
    closeSync(fd)
  })

  it('flush(done) calls back once pending lines are written', async () => {
    const { fd, file } = tempFd()
    const dest = createLogDestination(fd)
    dest.write('a\n')
    dest.write('b\n')
    await new Promise<void>((resolve, reject) => dest.flush((err) => (err ? reject(err) : resolve())))
    await expect.poll(() => readFileSync(file, 'utf8'), { timeout: 5000, interval: 10 }).toBe('a\nb\n')
    closeSync(fd)
  })

  it('shared by worker processes: every line once, in order, multi-byte text included, in batches of whole lines', () => {
    const { fd, file } = tempFd()
    const dest = createLogDestination(fd, { shared: true })
    const lines = Array.from({ length: 3000 }, (_, i) => JSON.stringify({ i, pad: 'é€'.repeat((i * 37) % 900) + 'x'.repeat((i * 53) % 1500) }) + '\n')
    for (const l of lines) dest.write(l)
    dest.flushSync()
    closeSync(fd)
    expect(readFileSync(file, 'utf8')).toBe(lines.join(''))
  })
})
