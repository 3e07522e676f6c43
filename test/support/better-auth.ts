import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'
import { betterAuth } from 'better-auth'
import { memoryAdapter } from 'better-auth/adapters/memory'
import { jwt } from 'better-auth/plugins'
import { importJWK, SignJWT, type JWK, type JWTPayload } from 'jose'

export type BetterAuthAlgorithm = 'EdDSA' | 'ES256' | 'ES512' | 'RS256' | 'PS256'

/**
 * A real Better Auth server in process (memory adapter, email and password, the `jwt()` plugin), whose JWKS is
 * served at `<baseURL>/api/auth/jwks` by a loopback HTTP server the test controls: it counts JWKS requests, can
 * be taken down and brought back, and can start publishing a new key (a rotation).
 */
export interface BetterAuthServer {
  baseURL: string
  /** Signs a user up and returns the JWT Better Auth gives them, as the frontend's `authClient.token()` gets it. */
  tokenFor(email: string): Promise<SignedIn>
  /** Publishes a new key of `alg` beside the current ones and returns a token signed with it. */
  rotate(email: string, alg: BetterAuthAlgorithm): Promise<SignedIn>
  /** JWKS requests received so far. */
  jwksRequests(): number
  /** While down, the JWKS endpoint answers 503. */
  setDown(down: boolean): void
  /**
   * Signs `claims` with the server's own private key (what Better Auth keeps in its jwks table), so a test can
   * forge what Better Auth never would: expired, wrong claims, an unknown kid. Defaults: iss, aud, exp as
   * Better Auth sets them. Call after tokenFor(), which makes Better Auth create its key.
   */
  sign(claims: JWTPayload, header?: { kid?: string }): Promise<string>
  /** The published public key, for algorithm-confusion attempts. */
  publicKey(): Promise<JWK>
}

export interface SignedIn {
  token: string
  userId: string
}

type Auth = ReturnType<typeof createAuth>

type KeyRow = { id: string; privateKey: string; alg: string }

/** Better Auth's memory adapter works on these tables, replacing the arrays as rows change. */
type Tables = { jwks: KeyRow[] } & Record<string, unknown[]>
const emptyTables = (): Tables => ({ user: [], session: [], account: [], verification: [], jwks: [] })

function createAuth (baseURL: string, alg: BetterAuthAlgorithm, tables: Tables = emptyTables()) {
  return betterAuth({
    baseURL,
    secret: 'better-auth-test-secret-at-least-32-characters',
    database: memoryAdapter(tables),
    emailAndPassword: { enabled: true },
    // Unencrypted private keys, so sign() can read them; what Better Auth publishes is unchanged.
    plugins: [jwt({ jwks: { keyPairConfig: { alg } as { alg: 'EdDSA' }, disablePrivateKeyEncryption: true } })],
    telemetry: { enabled: false },
    logger: { disabled: true },
  })
}

async function signIn (auth: Auth, email: string): Promise<SignedIn> {
  const { headers, response } = await auth.api.signUpEmail({
    body: { email, password: 'correct horse battery staple', name: email },
    returnHeaders: true,
  })
  const cookie = headers.getSetCookie().map((value) => value.split(';')[0]).join('; ')
  const { token } = await auth.api.getToken({ headers: new Headers({ cookie }) })
  return { token, userId: response.user.id }
}

export async function startBetterAuth (t: Test, alg: BetterAuthAlgorithm = 'EdDSA'): Promise<BetterAuthServer> {
  let requests = 0
  let down = false
  // Each instance holds its own keys; the JWKS publishes all of them, as Better Auth does during a rotation.
  const instances: Auth[] = []
  const server = createServer(async (req, res) => {
    if (req.url !== '/api/auth/jwks') {
      res.writeHead(404).end()
      return
    }
    requests++
    if (down) {
      res.writeHead(503).end()
      return
    }
    const keys = (await Promise.all(instances.map((auth) => auth.api.getJwks()))).flatMap((jwks) => jwks.keys)
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const tables = emptyTables()
  instances.push(createAuth(baseURL, alg, tables))

  return {
    baseURL,
    tokenFor: (email) => signIn(instances[0]!, email),
    async rotate (email, rotatedAlg) {
      const next = createAuth(baseURL, rotatedAlg)
      const signedIn = await signIn(next, email)
      instances.push(next)
      return signedIn
    },
    jwksRequests: () => requests,
    setDown (value) {
      down = value
    },
    async sign (claims, header = {}) {
      const row = tables.jwks[0]!
      const key = await importJWK(JSON.parse(row.privateKey) as JWK, row.alg)
      const now = Math.floor(Date.now() / 1000)
      return new SignJWT({ iss: baseURL, aud: baseURL, iat: now, exp: now + 900, ...claims })
        .setProtectedHeader({ alg: row.alg, kid: row.id, ...header })
        .sign(key)
    },
    async publicKey () {
      const { keys } = await instances[0]!.api.getJwks()
      return keys[0] as JWK
    },
  }
}
