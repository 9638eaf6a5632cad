// The floor for this stack: a bare @fastify/http-proxy, no auth, in front of the same upstream.
import process from 'node:process'
import fastify from 'fastify'
import proxy from '@fastify/http-proxy'

const app = fastify({ logger: false })
await app.register(proxy, { upstream: process.argv[2], http2: false, replyOptions: { retryDelay: () => null } })
await app.listen({ host: '127.0.0.1', port: Number(process.argv[3] ?? 0) })
process.send?.({ port: app.server.address().port })
