/**
 * Bytes on a socket, exactly as written: for requests an HTTP client would
 * normalise or refuse to send (raw dot segments, odd Host headers, huge lines).
 */
import net from 'node:net'

/** Send `text` and collect the response: until its Content-Length is in, a 101 head is in, the server closes, or 5 s pass. */
export function sendRaw(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    // write, not end: a half-closed socket may be torn down before an asynchronous answer.
    const sock = net.connect(port, '127.0.0.1', () => sock.write(text))
    let out = ''
    sock.setTimeout(5000, () => sock.destroy())
    sock.on('data', (d) => {
      out += d.toString('latin1')
      // Stop once the whole response is in: keep-alive would hold the socket open.
      const end = out.indexOf('\r\n\r\n')
      if (end === -1) return
      // A 101 opens a tunnel that stays open: its head is the whole answer.
      if (out.startsWith('HTTP/1.1 101 ')) return void sock.destroy()
      const len = /\r\ncontent-length: *(\d+)/i.exec(out.slice(0, end))
      if (len === null || out.length - end - 4 >= Number(len[1]) || text.startsWith('HEAD ')) sock.destroy()
    })
    sock.on('close', () => resolve(out))
    sock.on('error', () => resolve(out))
  })
}

export const statusOf = (raw: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0)
