import { Type } from '@sinclair/typebox'
import { PRIORITIES, RECURRENCES } from '../db/schema.js'
import { Count } from './count.js'
import { Nullable, StringEnum } from './kinds.js'
import { STORABLE_TEXT_PATTERN } from './patterns.js'
import { ref } from './ref.js'

/** Dates leave the repository as Date objects and are serialized as RFC 3339 UTC strings with milliseconds. */
const DateTime = (description: string) =>
  Type.Unsafe<Date>(Type.String({ format: 'date-time', maxLength: 24, description, examples: ['2026-11-26T14:50:58.123Z'] }))

/** An RFC 3339 date-time as clients send it, with any offset. */
const DateTimeInput = (description: string) => Type.String({ format: 'date-time', maxLength: 64, description })

const Uuid = (description: string, options: { readOnly?: boolean } = {}) =>
  Type.String({ format: 'uuid', maxLength: 36, description, ...options })

/** A JWT `sub`: tokens with a longer one are refused. */
export const MAX_USER_ID_LENGTH = 255

const Title = Type.String({
  minLength: 1,
  maxLength: 200,
  pattern: STORABLE_TEXT_PATTERN,
  description: 'Trimmed before validation; 1–200 Unicode code points.',
  examples: ['Buy milk'],
})

/** A stored description: never empty (an empty one is stored as null). */
const Description = Nullable(Type.String({ minLength: 1, maxLength: 1000, pattern: STORABLE_TEXT_PATTERN }), {
  description: 'At most 1000 code points; null when there is none.',
})

/** A description as clients send it: an empty or blank one is accepted and stored as null. */
const DescriptionInput = Nullable(Type.String({ maxLength: 1000, pattern: STORABLE_TEXT_PATTERN }), {
  description: 'Trimmed before validation; at most 1000 code points after that; an empty or blank string is stored as null.',
})

const Completed = Type.Boolean({ description: 'Whether the task is done.' })

/**
 * The enums are components of their own, referenced wherever they are used, so a generated client has one
 * type for each.
 */
export const Priority = StringEnum(PRIORITIES, { $id: 'Priority', description: 'How urgent the task is. Default: `medium`.' })

/** Tags a task holds, at most. */
export const MAX_TAGS = 20
/**
 * Bounds on tags as sent, checked before they are normalised (a 422): generous enough for the de-duplication the
 * schema promises, small enough that normalising them is no work whatever the body limit.
 */
export const MAX_TAGS_AS_SENT = 100
export const MAX_TAG_LENGTH_AS_SENT = 256

const Tags = Type.Array(Type.String({ minLength: 1, maxLength: 32, pattern: STORABLE_TEXT_PATTERN }), {
  maxItems: MAX_TAGS,
  description:
    `Each tag is trimmed and lower-cased; duplicates are dropped, order kept; at most ${MAX_TAGS} after that, of 1–32 code points each. ` +
      `As sent, at most ${MAX_TAGS_AS_SENT} tags of at most ${MAX_TAG_LENGTH_AS_SENT} UTF-16 code units each (before trimming).`,
  examples: [['work', 'errands']],
})

/** Nullable in itself, so that fields refer to it without an `anyOf`, which the serializer would pay for per value. */
export const Recurrence = Nullable(StringEnum(RECURRENCES), {
  $id: 'Recurrence',
  description:
    'How the task repeats; null when it does not. ' +
      'Completing the task creates its next occurrence, due one period later (UTC, same time of day); ' +
      'a monthly or yearly series keeps its day of month, clamped in months that lack it (Jan 31 → Feb 28 → Mar 31). Needs a `due_date`.',
})

/** A due date as clients send it: an RFC 3339 date-time with an offset, or null for none. */
const DueDateInput = Nullable(DateTimeInput('When the task is due; stored in UTC with milliseconds.'), {
  examples: ['2026-12-01T09:00:00Z'],
})

/** The fields a client may write, shared by create and update. */
const writable = {
  description: Type.Optional(DescriptionInput),
  completed: Type.Optional(Completed),
  priority: Type.Optional(ref(Priority)),
  tags: Type.Optional(Tags),
  due_date: Type.Optional(DueDateInput),
  recurrence: Type.Optional(ref(Recurrence)),
}

export const Task = Type.Object(
  {
    id: Uuid('Server-generated UUIDv7.', { readOnly: true }),
    user_id: Type.String({
      minLength: 1,
      maxLength: MAX_USER_ID_LENGTH,
      description: 'The owner: the `sub` of the token that created the task.',
      readOnly: true,
    }),
    title: Title,
    description: Description,
    completed: Completed,
    completed_at: Nullable(DateTime('When the task was last completed.'), { readOnly: true }),
    priority: ref(Priority),
    tags: Tags,
    due_date: Nullable(DateTime('When the task is due.')),
    recurrence: ref(Recurrence),
    next_task_id: Nullable(Uuid('The next occurrence’s id.'), {
      readOnly: true,
      description: 'The occurrence that completing this recurring task created.',
    }),
    created_at: DateTime('When the task was created.'),
    updated_at: DateTime('When the task last changed.'),
  },
  {
    $id: 'Task',
    additionalProperties: false,
    description: 'A task, as stored.',
    examples: [
      {
        id: '0193a1e2-5b7c-7d3e-9f10-2a3b4c5d6e7f',
        user_id: 'user_2fE9xK',
        title: 'Water the plants',
        description: 'The ones on the balcony too',
        completed: false,
        completed_at: null,
        priority: 'high',
        tags: ['home', 'weekly'],
        due_date: '2026-12-01T09:00:00.000Z',
        recurrence: 'weekly',
        next_task_id: null,
        created_at: '2026-11-26T14:50:58.123Z',
        updated_at: '2026-11-26T14:50:58.123Z',
      },
    ],
  }
)

export const TaskCreate = Type.Object(
  {
    title: Title,
    ...writable,
  },
  {
    $id: 'TaskCreate',
    additionalProperties: false,
    description: 'A new task: a title, and any other writable field.',
    examples: [{ title: 'Water the plants', priority: 'high', tags: ['home'], due_date: '2026-12-01T09:00:00Z', recurrence: 'weekly' }],
  }
)

export const TaskUpdate = Type.Object(
  {
    title: Type.Optional(Title),
    ...writable,
  },
  {
    $id: 'TaskUpdate',
    additionalProperties: false,
    minProperties: 1,
    description: 'Any non-empty subset of the writable fields; the others keep their values.',
    examples: [{ title: 'Water the plants and the herbs', priority: 'medium' }],
  }
)

export const TaskCompletion = Type.Object(
  { completed: Type.Optional(Completed) },
  {
    $id: 'TaskCompletion',
    additionalProperties: false,
    description: 'Set `completed` to that value (safe to retry); omit it, or send no body, to toggle.',
    examples: [{ completed: true }],
  }
)

export const TaskListQuery = Type.Object(
  {
    status: Type.Optional(
      StringEnum(['all', 'pending', 'completed'], { description: 'Default: `all`.' })
    ),
    priority: Type.Optional(
      Type.Array(ref(Priority), {
        minItems: 1,
        maxItems: 10,
        description: 'One or more priorities: repeat the parameter or separate by commas.',
      })
    ),
    tag: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 32, pattern: STORABLE_TEXT_PATTERN }), {
        minItems: 1,
        maxItems: 20,
        description: 'Tasks carrying every one of these tags (case-insensitive); repeat to require several.',
      })
    ),
    q: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        pattern: STORABLE_TEXT_PATTERN,
        description: 'Case-insensitive text in the title or the description; `%` and `_` are literal characters.',
      })
    ),
    due_before: Type.Optional(DateTimeInput('Due strictly before this instant.')),
    due_after: Type.Optional(DateTimeInput('Due at or after this instant.')),
    sort: Type.Optional(
      StringEnum(['created', 'updated', 'title', 'due_date', 'priority'], {
        description: 'Default: `created`. Titles sort case-insensitively; tasks without a due date come last; ties break on `id`.',
      })
    ),
    order: Type.Optional(
      StringEnum(['asc', 'desc'], {
        description: 'Default: `desc` for `created`, `updated` and `priority`; `asc` for `title` and `due_date`.',
      })
    ),
    limit: Type.Optional(Type.Integer({ format: 'int32', minimum: 1, maximum: 500, description: 'Page size. Default: 100.' })),
    cursor: Type.Optional(
      Type.String({ minLength: 1, maxLength: 2048, description: 'Opaque: take it from the previous page’s `Link: <…>; rel="next"`.' })
    ),
  },
  { additionalProperties: false }
)

export const TaskStats = Type.Object(
  {
    total: Count('All of the caller’s tasks.'),
    completed: Count(),
    pending: Count(),
    overdue: Count('Pending tasks whose due date has passed.'),
    by_priority: Type.Object(
      Object.fromEntries(
        PRIORITIES.map((priority) => [priority, Count()])
      ) as Record<(typeof PRIORITIES)[number], ReturnType<typeof Count>>,
      { description: 'Pending tasks per priority.' }
    ),
  },
  {
    $id: 'TaskStats',
    description: 'Counts of the caller’s tasks.',
    examples: [{ total: 12, completed: 5, pending: 7, overdue: 2, by_priority: { low: 1, medium: 4, high: 2 } }],
  }
)

export const TaskDeletion = Type.Object(
  { deleted: Count('How many tasks were deleted.') },
  { $id: 'TaskDeletion', description: 'The outcome of clearing completed tasks.', examples: [{ deleted: 3 }] }
)

export const ClearCompletedQuery = Type.Object(
  { status: Type.Literal('completed', { description: 'Required: only completed tasks can be cleared in bulk.' }) },
  { additionalProperties: false }
)

export const taskSchemas = [Priority, Recurrence, Task, TaskCreate, TaskUpdate, TaskCompletion, TaskStats, TaskDeletion]
