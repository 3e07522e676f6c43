import { Type, type TSchema } from '@sinclair/typebox'
import { PROBLEM_CONTENT_TYPE } from '../http/problem.js'
import { ref } from './ref.js'

export const Problem = Type.Object(
  {
    type: Type.String({ description: 'A URI naming the problem type; `about:blank` when the status says it all.' }),
    title: Type.String({ description: 'The HTTP status phrase.' }),
    status: Type.Integer({ description: 'The HTTP status code.' }),
    detail: Type.String({ description: 'What went wrong, written to be shown to a person.' }),
    request_id: Type.String({ description: 'The X-Request-Id of the request, for support and logs.' }),
  },
  { $id: 'Problem', description: 'An RFC 9457 problem document.' },
)

export const FieldError = Type.Object(
  {
    path: Type.String({ description: 'JSON pointer into the request, such as `/body/title` or `/querystring/sort`.' }),
    message: Type.String(),
  },
  { $id: 'FieldError' },
)

export const ValidationProblem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Literal(422),
    detail: Type.String(),
    request_id: Type.String(),
    errors: Type.Array(ref(FieldError)),
  },
  { $id: 'ValidationProblem', description: 'A problem document listing each invalid field.' },
)

/** A documented problem response, served as application/problem+json. */
export function problemResponse(description: string, schema: TSchema = Problem) {
  return { description, content: { [PROBLEM_CONTENT_TYPE]: { schema: ref(schema) } } }
}
