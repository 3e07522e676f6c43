/**
 * Text PostgreSQL can store unchanged: no U+0000 (text cannot hold it) and no unpaired surrogate (UTF-8 cannot
 * encode one; drivers would silently store U+FFFD). Ajv compiles patterns with the `u` flag, so a surrogate
 * pair is one code point and passes.
 */
export const STORABLE_TEXT_PATTERN = '^[^\\u0000\\uD800-\\uDFFF]*$'

/** The plain UUID form only: Ajv's `uuid` format also takes `urn:uuid:…`, which PostgreSQL refuses. */
export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'

/** A caller's X-Request-Id is reused only when short and plain, so it is safe to log and echo. */
export const REQUEST_ID_PATTERN = '^[A-Za-z0-9._:-]{1,128}$'

/** What a failed pattern means, in words a frontend can show instead of the regular expression. */
export const PATTERN_MESSAGES: Record<string, string> = {
  [STORABLE_TEXT_PATTERN]: 'must not contain U+0000 or unpaired surrogates',
  [UUID_PATTERN]: 'must be a UUID',
}
