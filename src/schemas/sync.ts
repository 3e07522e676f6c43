import { Type } from '@sinclair/typebox'
import { ref } from './ref.js'
import { Task } from './task.js'

/** The most changes one page holds, and how many it holds unless asked. */
export const MAX_CHANGES_LIMIT = 1000
export const DEFAULT_CHANGES_LIMIT = 500

export const Tombstone = Type.Object(
  {
    id: Type.String({ format: 'uuid', maxLength: 36, description: 'The deleted task’s id.' }),
    deleted: Type.Literal(true),
    deleted_at: Type.Unsafe<Date>(Type.String({ format: 'date-time', maxLength: 24, description: 'When the task was deleted.' })),
  },
  {
    $id: 'Tombstone',
    additionalProperties: false,
    description: 'A task that was deleted: remove it from the replica.',
    examples: [{ id: '0193a1e2-5b7c-7d3e-9f10-2a3b4c5d6e7f', deleted: true, deleted_at: '2026-11-26T14:50:58.123Z' }],
  }
)

export const TaskChanges = Type.Object(
  {
    changes: Type.Array(Type.Union([ref(Task), ref(Tombstone)]), {
      maxItems: MAX_CHANGES_LIMIT,
      description:
        'Oldest change first; each task at most once, in its latest state. A task replaces the replica’s copy; a tombstone removes it.',
    }),
    next: Type.String({ maxLength: 512, description: 'Opaque (sealed, and only yours): store it, and send it as `since` next time.' }),
    has_more: Type.Boolean({ description: 'More changes are ready now: ask again with `next` straight away.' }),
  },
  {
    $id: 'TaskChanges',
    additionalProperties: false,
    description: 'A page of the change feed.',
    examples: [
      {
        changes: [{ id: '0193a1e2-5b7c-7d3e-9f10-2a3b4c5d6e7f', deleted: true, deleted_at: '2026-11-26T14:50:58.123Z' }],
        next: 'yBIoLhJxdOcnM8W_9S1GnJ16qwSuDbJUN6Yfy7Vflb71PJIFPOACUBFmlUXZ_sV32fFtL8-ZKu8kZsxBUqrf1gnSplPBB4SDgCjMXnaPcuPq',
        has_more: false,
      },
    ],
  }
)

export const ChangesQuery = Type.Object(
  {
    since: Type.Optional(
      Type.String({ minLength: 1, maxLength: 512, description: 'The `next` of the previous page. Absent: every live task, as of now.' })
    ),
    limit: Type.Optional(
      Type.Integer({
        format: 'int32',
        minimum: 1,
        maximum: MAX_CHANGES_LIMIT,
        description: `Most changes per page. Default: ${DEFAULT_CHANGES_LIMIT}.`,
      })
    ),
  },
  { additionalProperties: false }
)

export const syncSchemas = [Tombstone, TaskChanges]
