import { createSigner } from 'fast-jwt'
import type { Config } from '../config.js'

/** Development tokens last a month, so the one `npm start` prints keeps working across restarts. */
const DEV_TOKEN_TTL_SECONDS = 30 * 24 * 60 * 60

/** Signs an HS256 token for `userId` with the configured secret, issuer and audience: what the API accepts. */
export function mintToken (
  config: Pick<Config, 'JWT_ISSUER' | 'JWT_AUDIENCE'> & { BETTER_AUTH_SECRET: string },
  userId: string,
  ttlSeconds = DEV_TOKEN_TTL_SECONDS
): string {
  const sign = createSigner({
    key: config.BETTER_AUTH_SECRET,
    algorithm: 'HS256',
    expiresIn: ttlSeconds * 1000,
    ...(config.JWT_ISSUER !== undefined && { iss: config.JWT_ISSUER }),
    ...(config.JWT_AUDIENCE !== undefined && { aud: config.JWT_AUDIENCE }),
  })
  return sign({ sub: userId })
}
