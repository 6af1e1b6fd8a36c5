/** Config issues: one problem or warning, its YAML path and where it sits in the file. */
import { isMap, isPair, isScalar, isSeq, LineCounter, type Document, type Node } from 'yaml';

/** One problem or warning. `line`/`col` (1-based) point into `source` when known. */
export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
  readonly source?: string;
  readonly line?: number;
  readonly col?: number;
  /** The path as segments, when a segment may itself contain "." (upstream names); used only for positioning. */
  readonly segments?: readonly PropertyKey[];
}

/** `gateway.yaml:12:5 routes[2].rateLimit.per: expected a duration like "1s"` */
export function formatIssue(issue: ConfigIssue): string {
  const where = issue.source === undefined ? '' : issue.line === undefined ? `${issue.source} ` : `${issue.source}:${issue.line}:${issue.col ?? 1} `;
  return where + (issue.path === '' ? issue.message : `${issue.path}: ${issue.message}`);
}

/** Formats a path array as YAML-ish dotted path with [index] for arrays. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

/**
 * Finds the offset of `path` in the document: a mapping entry points at its key, a sequence item at the item.
 * A path that does not exist (a missing required key) points at its nearest existing ancestor.
 */
export function offsetOf(doc: Document, path: readonly PropertyKey[]): number | undefined {
  let node: unknown = doc.contents;
  let best: number | undefined = (doc.contents as Node | null)?.range?.[0];
  for (const part of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(part));
      if (!pair) break;
      const keyRange = (pair.key as Node).range;
      if (keyRange) best = keyRange[0];
      node = pair.value;
    } else if (isSeq(node) && typeof part === 'number') {
      const item = node.items[part] as Node | undefined;
      if (!item) break;
      if (item.range) best = item.range[0];
      node = item;
    } else break;
  }
  return best;
}

/** Attaches `source` and line:column to issues and returns them deduplicated (one per path and message) and sorted by position. */
export function placeIssues(issues: readonly ConfigIssue[], doc: Document | undefined, lines: LineCounter | undefined, source: string | undefined): ConfigIssue[] {
  const seen = new Set<string>();
  const out: (ConfigIssue & { offset: number })[] = [];
  for (const issue of issues) {
    const k = `${issue.path}\0${issue.message}`;
    if (seen.has(k)) continue;
    seen.add(k);
    let offset = -1;
    let line = issue.line;
    let col = issue.col;
    if (line === undefined && doc && lines) {
      const o = offsetOf(doc, issue.segments ?? parsePath(issue.path));
      if (o !== undefined) {
        offset = o;
        const p = lines.linePos(o);
        line = p.line;
        col = p.col;
      }
    } else if (line !== undefined && lines) {
      offset = (lines.lineStarts[line - 1] ?? 0) + (col ?? 1) - 1;
    }
    out.push({ ...issue, ...(source === undefined ? {} : { source }), ...(line === undefined ? {} : { line, col }), offset });
  }
  out.sort((a, b) => a.offset - b.offset);
  return out.map(({ offset: _offset, segments: _segments, ...rest }) => rest);
}

/** Inverse of formatPath for the paths we produce: `routes[1].match.pathPrefix` -> ['routes', 1, 'match', 'pathPrefix']. */
export function parsePath(path: string): PropertyKey[] {
  const out: PropertyKey[] = [];
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (m[2] !== undefined) out.push(Number(m[2]));
    else if (m[1] !== undefined) out.push(m[1]);
  }
  return out;
}
