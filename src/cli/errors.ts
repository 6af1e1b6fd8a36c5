/** A mistake in how the command was called: exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** An expected failure the user can fix (bad input, refusing to overwrite): exit 1, one sentence, no stack. */
export class UserError extends Error {
  override name = 'UserError';
}
