/** The config's problem and warning type, on its own so validate.ts and references.ts share it without a cycle. */

/** One problem or warning, already phrased as `path: message`. */
export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}
