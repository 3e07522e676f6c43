import { Type } from '@sinclair/typebox'
import { ref } from './ref.js'

/** A validation problem lists at most this many fields; a body can break more rules than anyone reads. */
export const MAX_FIELD_ERRORS = 50

const problemFields = {
  type: Type.String({
    format: 'uri',
    maxLength: 2048,
    description: 'A URI naming the problem type; `about:blank` when the status says it all.',
  }),
  title: Type.String({ maxLength: 100, description: 'The HTTP status phrase.' }),
  detail: Type.String({ maxLength: 2000, description: 'What went wrong, written to be shown to a person.' }),
  request_id: Type.String({ maxLength: 128, description: 'The X-Request-Id of the request, for support and logs.' }),
}

export const Problem = Type.Object(
  {
    type: problemFields.type,
    title: problemFields.title,
    status: Type.Integer({ format: 'int32', minimum: 400, maximum: 599, description: 'The HTTP status code.' }),
    detail: problemFields.detail,
    request_id: problemFields.request_id,
  },
  {
    $id: 'Problem',
    description: 'An RFC 9457 problem document.',
    examples: [
      {
        type: 'about:blank',
        title: 'Not Found',
        status: 404,
        detail: 'Task 0193a1e2-5b7c-7d3e-9f10-2a3b4c5d6e7f not found.',
        request_id: '6f1c2a4e-8b9d-4e3f-a2b1-0c9d8e7f6a5b',
      },
    ],
  }
)

export const FieldError = Type.Object(
  {
    path: Type.String({ maxLength: 512, description: 'JSON pointer into the request, such as `/body/title` or `/querystring/sort`.' }),
    message: Type.String({ maxLength: 512, description: 'What is wrong with it, in words a frontend can show.' }),
  },
  { $id: 'FieldError' }
)

export const ValidationProblem = Type.Object(
  {
    type: problemFields.type,
    title: problemFields.title,
    status: Type.Literal(422),
    detail: problemFields.detail,
    request_id: problemFields.request_id,
    errors: Type.Array(ref(FieldError), { maxItems: MAX_FIELD_ERRORS, description: `Each invalid field (the first ${MAX_FIELD_ERRORS}).` }),
  },
  {
    $id: 'ValidationProblem',
    description: 'A problem document listing each invalid field.',
    examples: [
      {
        type: 'about:blank',
        title: 'Unprocessable Entity',
        status: 422,
        detail: 'The request is invalid: /body/title must NOT have fewer than 1 characters',
        request_id: '6f1c2a4e-8b9d-4e3f-a2b1-0c9d8e7f6a5b',
        errors: [{ path: '/body/title', message: 'must NOT have fewer than 1 characters' }],
      },
    ],
  }
)
