import { Type } from '@sinclair/typebox'
import { STORABLE_TEXT_PATTERN } from './patterns.js'

/** Dates leave the repository as Date objects and are serialized as RFC 3339 UTC strings with milliseconds. */
const DateTime = (description: string) =>
  Type.Unsafe<Date>(Type.String({ format: 'date-time', description, examples: ['2026-11-26T14:50:58.123Z'] }))

const Title = Type.String({
  minLength: 1,
  maxLength: 200,
  pattern: STORABLE_TEXT_PATTERN,
  description: 'Trimmed before validation; 1–200 Unicode code points.',
  examples: ['Buy milk'],
})

const Description = Type.Union(
  [Type.String({ minLength: 1, maxLength: 1000, pattern: STORABLE_TEXT_PATTERN }), Type.Null()],
  { description: 'Trimmed before validation; at most 1000 code points; an empty string is stored as null.' },
)

const Completed = Type.Boolean({ description: 'Whether the task is done.' })

export const Task = Type.Object(
  {
    id: Type.String({ format: 'uuid', description: 'Server-generated UUIDv7.', readOnly: true }),
    user_id: Type.String({ description: 'The owner: the `sub` of the token that created the task.', readOnly: true }),
    title: Title,
    description: Description,
    completed: Completed,
    completed_at: Type.Union([DateTime('When the task was last completed.'), Type.Null()], { readOnly: true }),
    created_at: DateTime('When the task was created.'),
    updated_at: DateTime('When the task last changed.'),
  },
  { $id: 'Task', additionalProperties: false },
)

export const TaskCreate = Type.Object(
  {
    title: Title,
    description: Type.Optional(Description),
    completed: Type.Optional(Completed),
  },
  { $id: 'TaskCreate', additionalProperties: false },
)

export const TaskUpdate = Type.Object(
  {
    title: Type.Optional(Title),
    description: Type.Optional(Description),
    completed: Type.Optional(Completed),
  },
  { $id: 'TaskUpdate', additionalProperties: false, minProperties: 1, description: 'Any non-empty subset of the fields.' },
)

export const TaskCompletion = Type.Object(
  { completed: Type.Optional(Completed) },
  {
    $id: 'TaskCompletion',
    additionalProperties: false,
    description: 'Set `completed` to that value (safe to retry); omit it, or send no body, to toggle.',
  },
)

export const TaskListQuery = Type.Object(
  {
    status: Type.Optional(
      Type.Union([Type.Literal('all'), Type.Literal('pending'), Type.Literal('completed')], { description: 'Default: `all`.' }),
    ),
    sort: Type.Optional(
      Type.Union([Type.Literal('created'), Type.Literal('updated'), Type.Literal('title')], {
        description: 'Default: `created`. Titles sort case-insensitively; ties break on `id`.',
      }),
    ),
    order: Type.Optional(
      Type.Union([Type.Literal('asc'), Type.Literal('desc')], {
        description: 'Default: `desc` for `created` and `updated`, `asc` for `title`.',
      }),
    ),
  },
  { additionalProperties: false },
)

export const taskSchemas = [Task, TaskCreate, TaskUpdate, TaskCompletion]
