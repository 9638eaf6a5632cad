#!/usr/bin/env node
/* global process, fetch, URLSearchParams */
// What a bot does to call a gatehouse-protected API with an Okta API Services app:
//   1. sign a client assertion with its private key (private_key_jwt),
//   2. trade it for an access token (client credentials) at the custom authorization server,
//   3. call the route with `Authorization: Bearer <token>`.
//
//   OKTA_ISSUER=https://acme.okta.com/oauth2/default \
//   CLIENT_ID=0oa1bot… PRIVATE_KEY_FILE=bot-key.pem KEY_ID=… SCOPE=reports.read \
//   node examples/machine-access/bot.mjs https://reports.corp.example/api/summary
//
// Needs only Node 20+ and jose. Nothing here is gatehouse-specific: it is Okta's client-credentials flow.
import { createPrivateKey, randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { SignJWT } from 'jose'

const need = (name) => {
  const v = process.env[name]
  if (v === undefined || v === '') {
    process.stderr.write(`set ${name}\n`)
    process.exit(2)
  }
  return v
}
const target = process.argv[2]
if (target === undefined) {
  process.stderr.write('usage: node bot.mjs URL\n')
  process.exit(2)
}
const issuer = need('OKTA_ISSUER')
const clientId = need('CLIENT_ID')
const key = createPrivateKey(readFileSync(need('PRIVATE_KEY_FILE')))
const alg = key.asymmetricKeyType === 'ec' ? 'ES256' : 'RS256'

// The token endpoint comes from discovery; Okta wants it, exactly, as the assertion's audience.
const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()
const tokenEndpoint = discovery.token_endpoint

const now = Math.floor(Date.now() / 1000)
const assertion = await new SignJWT({})
  .setProtectedHeader(process.env.KEY_ID ? { alg, kid: process.env.KEY_ID } : { alg })
  .setIssuer(clientId) // iss = sub = the client id
  .setSubject(clientId)
  .setAudience(tokenEndpoint)
  .setIssuedAt(now)
  .setExpirationTime(now + 300) // Okta: at most an hour
  .setJti(randomUUID()) // Okta: each assertion once
  .sign(key)

const tokenResponse = await fetch(tokenEndpoint, {
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
  body: new URLSearchParams({
    grant_type: 'client_credentials',
    scope: process.env.SCOPE ?? '',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: assertion,
  }),
})
const token = await tokenResponse.json()
if (!tokenResponse.ok) {
  process.stderr.write(`token request refused: ${token.error}: ${token.error_description}\n`)
  process.exit(1)
}

const res = await fetch(target, { headers: { authorization: `Bearer ${token.access_token}`, accept: 'application/json' } })
process.stdout.write(`${res.status} ${res.headers.get('www-authenticate') ?? ''}\n${await res.text()}\n`)
process.exit(res.ok ? 0 : 1)
