import { Type } from '@sinclair/typebox'
import { UUID_PATTERN } from '../../schemas/patterns.js'
import { MAX_USER_ID_LENGTH } from '../../schemas/task.js'

const TaskId = Type.String({ format: 'uuid', maxLength: 36, pattern: UUID_PATTERN, description: 'The task id.' })
const UserId = Type.String({ minLength: 1, maxLength: MAX_USER_ID_LENGTH, description: 'Must equal the token’s `sub`.' })

/**
 * What differs between the two path styles: `/api/tasks…`, and `/api/{user_id}/tasks…` (the original plan's
 * style, where the path names the owner, who must be the caller): operation ids and path parameters.
 */
export function pathStyle (userInPath: boolean) {
  return {
    userInPath,
    operationId: (name: string) => (userInPath ? `${name}ForUser` : name),
    // Only the owner-in-path style has path parameters on the collection.
    collectionParams: userInPath ? { params: Type.Object({ user_id: UserId }) } : {},
    itemParams: userInPath ? Type.Object({ user_id: UserId, id: TaskId }) : Type.Object({ id: TaskId }),
  }
}

export type PathStyle = ReturnType<typeof pathStyle>
