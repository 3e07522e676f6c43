import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createSigner } from 'fast-jwt'
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose'

/** Long enough for the longest run; the API never sees a token expire mid-run. */
const TOKEN_TTL_SECONDS = 6 * 60 * 60

/** HS256 tokens as the project's own `npm run token` signs them: `sub` and `exp`, with the shared secret. */
export function hs256Tokens (secret: string, userIds: string[]): string[] {
  const sign = createSigner({ key: secret, algorithm: 'HS256', expiresIn: TOKEN_TTL_SECONDS * 1000 })
  return userIds.map((sub) => sign({ sub }))
}

/**
 * A stand-in for Better Auth's `jwt()` plugin: one Ed25519 key, published at `<baseURL>/api/auth/jwks`, and
 * tokens shaped as Better Auth issues them (EdDSA, `kid`, `iss` and `aud` the base URL, `sub`, `iat`, `exp`).
 * Start the API (and the ceiling) with BETTER_AUTH_URL = baseURL.
 */
export interface JwksIssuer {
  baseURL: string
  /** JWKS requests served so far: the API should fetch once, then verify from its cache. */
  requests(): number
  tokens(userIds: string[]): Promise<string[]>
  close(): Promise<void>
}

export async function startJwksIssuer (): Promise<JwksIssuer> {
  const kid = 'bench-ed25519'
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' }] })
  let requests = 0
  const server: Server = createServer((request, response) => {
    if (request.url !== '/api/auth/jwks') {
      response.writeHead(404).end()
      return
    }
    requests++
    response.writeHead(200, { 'content-type': 'application/json' }).end(jwks)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    baseURL,
    requests: () => requests,
    tokens: (userIds) => Promise.all(userIds.map((sub) => signEdDSA(privateKey, kid, baseURL, sub))),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

function signEdDSA (key: CryptoKey, kid: string, issuer: string, sub: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({ sub })
    .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' })
    .setIssuer(issuer)
    .setAudience(issuer)
    .setIssuedAt(now)
    .setExpirationTime(now + TOKEN_TTL_SECONDS)
    .sign(key)
}
