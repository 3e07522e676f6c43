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

/** One entity tag (RFC 9110 §8.8.3): `"…"` strong, `W/"…"` weak; the quoted part is visible ASCII (no `"`) or obs-text. */
const ENTITY_TAG = '(?:W/)?"[\\x21\\x23-\\x7E\\x80-\\xFF]*"'

/** An `If-Match` or `If-None-Match` value: `*`, or a comma-separated list of entity tags (empty elements allowed). */
export const ENTITY_TAGS_PATTERN = `^(?:\\*|(?:,[ \\t]*)*${ENTITY_TAG}(?:[ \\t]*,(?:[ \\t]*${ENTITY_TAG})?)*)$`

/** What a failed pattern means, in words a frontend can show instead of the regular expression. */
export const PATTERN_MESSAGES: Record<string, string> = {
  [STORABLE_TEXT_PATTERN]: 'must not contain U+0000 or unpaired surrogates',
  [UUID_PATTERN]: 'must be a UUID',
  [ENTITY_TAGS_PATTERN]: 'must be * or a comma-separated list of entity tags, each quoted: "3" or W/"3"',
}
