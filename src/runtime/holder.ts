import type { RuntimeSnapshot } from './snapshot.js';

/** Holds the current snapshot. `swap` is one assignment: a request that pinned the old one finishes on it. */
export class SnapshotHolder {
  #current: RuntimeSnapshot;
  constructor(initial: RuntimeSnapshot) {
    this.#current = initial;
  }
  get current(): RuntimeSnapshot {
    return this.#current;
  }
  /** Makes `next` current and returns the one it replaced. */
  swap(next: RuntimeSnapshot): RuntimeSnapshot {
    const prev = this.#current;
    this.#current = next;
    return prev;
  }
}
