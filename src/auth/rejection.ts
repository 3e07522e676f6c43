import { TOKEN_ERROR_CODES } from 'fast-jwt'
import { errors } from 'jose'

/** The short name of why a token was refused: the `reason` field of the log line that records the refusal. */
export type RejectionReason =
  | 'malformed'
  | 'algorithm'
  | 'unknown_key'
  | 'signature'
  | 'expired'
  | 'not_yet_valid'
  | 'issuer'
  | 'audience'
  | 'no_expiry'
  | 'no_subject'
  | 'subject'
  | 'claim'
  | 'invalid'

/**
 * A refused token: `detail` tells the caller why (the 401's detail), in terms of the token they already hold, so
 * an integrator can fix their side (a wrong `iss` is the usual first wall) without reading our logs.
 */
export class TokenRejection extends Error {
  constructor (
    readonly reason: RejectionReason,
    readonly detail: string
  ) {
    super(detail)
  }
}

/** The `iss` and `aud` a verifier requires, when it does; refusals name them, as they are public. */
export interface ExpectedClaims {
  issuer?: string | undefined
  audience?: string | undefined
}

export const malformed = () => new TokenRejection('malformed', 'The token is not a well-formed JWT.')
const expired = () => new TokenRejection('expired', 'The token has expired.')
export const notYetValid = (claim: 'nbf' | 'iat') =>
  new TokenRejection(
    'not_yet_valid',
    `The token is not valid yet: its ${claim === 'nbf' ? 'nbf (not before)' : 'iat (issued at)'} is in the future.`
  )
export const noSubject = () => new TokenRejection('no_subject', 'The token has no subject (sub).')
const badSignature = () => new TokenRejection('signature', "The token's signature does not verify.")
const notValid = () => new TokenRejection('invalid', 'The token is not valid.')

/** A claim's check failed: it is absent, or present with a wrong value or type. */
function claimRejection (claim: string | undefined, missing: boolean, expected: ExpectedClaims): TokenRejection {
  switch (claim) {
    case 'iss':
      return missing
        ? new TokenRejection('issuer', `The token has no issuer (iss); this API expects "${expected.issuer}".`)
        : new TokenRejection('issuer', `The token's issuer (iss) is not "${expected.issuer}", the one this API expects.`)
    case 'aud':
      return missing
        ? new TokenRejection('audience', `The token has no audience (aud); this API expects "${expected.audience}".`)
        : new TokenRejection('audience', `The token's audience (aud) does not include "${expected.audience}", the one this API expects.`)
    case 'sub':
      return noSubject()
    case 'exp':
      return missing ? new TokenRejection('no_expiry', 'The token has no expiry (exp).') : numericDateExpected(claim)
    case 'nbf':
    case 'iat':
      return numericDateExpected(claim)
    default:
      return notValid()
  }
}

export function numericDateExpected (claim: string): TokenRejection {
  return new TokenRejection('claim', `The token's ${claim} claim is not a number of seconds since the epoch.`)
}

/** fast-jwt (the shared-secret way) reports a claim only in its message: `The iss claim …`, `None of aud claim …`. */
const CLAIM_IN_MESSAGE = /^(?:The|None of) (\w+) claim/

/** Why fast-jwt refused a token, from its error codes. */
export function fastJwtRejection (error: unknown, expected: ExpectedClaims): TokenRejection {
  const { code, message } = error as { code?: unknown; message?: unknown }
  const claim = typeof message === 'string' ? CLAIM_IN_MESSAGE.exec(message)?.[1] : undefined
  switch (code) {
    case TOKEN_ERROR_CODES.malformed:
    case TOKEN_ERROR_CODES.invalidPayload:
      return malformed()
    case TOKEN_ERROR_CODES.invalidSignature:
    case TOKEN_ERROR_CODES.missingSignature:
      return badSignature()
    case TOKEN_ERROR_CODES.expired:
      return expired()
    case TOKEN_ERROR_CODES.inactive:
      return notYetValid('nbf')
    case TOKEN_ERROR_CODES.missingRequiredClaim:
    case TOKEN_ERROR_CODES.invalidClaimValue:
    case TOKEN_ERROR_CODES.invalidClaimType:
      return claimRejection(claim, code === TOKEN_ERROR_CODES.missingRequiredClaim, expected)
    default:
      return notValid()
  }
}

/** Why jose (the JWKS way) refused a token, from its error classes. */
export function joseRejection (error: unknown, expected: ExpectedClaims): TokenRejection {
  if (error instanceof errors.JWTExpired) return expired()
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf' && error.reason === 'check_failed') return notYetValid('nbf')
    return claimRejection(error.claim, error.reason === 'missing', expected)
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return badSignature()
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
    return new TokenRejection('unknown_key', "The token's key (kid) is not among the keys the auth server publishes.")
  }
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return malformed()
  return notValid()
}
