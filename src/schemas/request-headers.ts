import { Type } from '@sinclair/typebox'
import { ENTITY_TAGS_PATTERN } from './patterns.js'

// The request headers the task routes read, as `headers` schemas: Fastify matches them by lower-case name.

export const IdempotencyKeyHeader = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 255,
      pattern: '^[\\x21-\\x7E]+$',
      description:
        'Makes the write safe to retry: a repeat with the same key, method, path and body within 24 hours ' +
          'gets the first response again (`Idempotency-Replayed: true`) and writes nothing. ' +
          '1–255 visible ASCII characters, unique per request; scoped to the caller.',
    })
  ),
})

const IfMatchHeader = Type.Object({
  'if-match': Type.Optional(
    Type.String({
      maxLength: 1024,
      pattern: ENTITY_TAGS_PATTERN,
      description:
        'Write only if the task’s current `ETag` is one of these, compared character for character (weak tags never match); ' +
          'else `412` and nothing changes. `*`: any current version. Not `*` or a list of quoted entity tags: `422`.',
    })
  ),
})

export const IfNoneMatchHeader = Type.Object({
  'if-none-match': Type.Optional(
    Type.String({
      maxLength: 1024,
      pattern: ENTITY_TAGS_PATTERN,
      description:
        '`304` without a body when the task’s current `ETag` is one of these (weak comparison: `W/` is ignored), or `*`. ' +
          'Not `*` or a list of quoted entity tags: `422`.',
    })
  ),
})

/** Headers of a write to one task: a condition, and a key that makes it safe to retry. */
export const TaskWriteHeaders = Type.Object({ ...IfMatchHeader.properties, ...IdempotencyKeyHeader.properties })
