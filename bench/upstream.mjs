// The benchmark's upstream: a minimal Node HTTP server returning a 1 KiB body.
import http from 'node:http'
import process from 'node:process'
import { Buffer } from 'node:buffer'

const body = Buffer.alloc(1024, 'x')
const server = http.createServer((req, res) => {
  req.resume()
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length })
  res.end(body)
})
server.keepAliveTimeout = 60_000
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => process.send?.({ port: server.address().port }))
