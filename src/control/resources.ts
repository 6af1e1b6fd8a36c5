/**
 * Things a snapshot uses that must be closed when no snapshot does any more: forward-auth connection
 * pools (one per auth origin) and the tracer provider with its exporter. Like the upstream pool
 * registry: a build asks for each by key (an unchanged one is handed back running), the snapshot
 * records the keys it holds, and a committed reload closes what the new snapshot no longer holds; a
 * refused one closes only what it built.
 */
export interface ResourceLease {
  /** The running resource for `key`, or a new one from `make`, closed later with `close`. */
  obtain<T>(key: string, make: () => T, close: (value: T) => Promise<void>): T;
  /** The keys obtained through this lease. */
  readonly keys: ReadonlySet<string>;
}

interface Entry {
  readonly value: unknown;
  readonly close: () => Promise<void>;
}

export class SharedResources {
  readonly #entries = new Map<string, Entry>();

  /** A lease for one snapshot build. */
  lease(): ResourceLease {
    const keys = new Set<string>();
    const entries = this.#entries;
    return {
      keys,
      obtain<T>(key: string, make: () => T, close: (value: T) => Promise<void>): T {
        keys.add(key);
        const existing = entries.get(key);
        if (existing !== undefined) return existing.value as T;
        const value = make();
        entries.set(key, { value, close: () => close(value) });
        return value;
      },
    };
  }

  /** Closes every resource not in `keep` (after a successful reload). */
  async retire(keep: ReadonlySet<string>): Promise<void> {
    await this.#closeWhere((key) => !keep.has(key));
  }

  /** Closes what a refused build made: every resource in neither `keep` nor `running`. */
  async discardExcept(keep: ReadonlySet<string>, running: ReadonlySet<string>): Promise<void> {
    await this.#closeWhere((key) => !keep.has(key) && !running.has(key));
  }

  /** Closes everything (shutdown). */
  async closeAll(): Promise<void> {
    await this.#closeWhere(() => true);
  }

  get size(): number {
    return this.#entries.size;
  }

  async #closeWhere(pred: (key: string) => boolean): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const [key, entry] of this.#entries) {
      if (!pred(key)) continue;
      this.#entries.delete(key);
      closing.push(entry.close().catch(() => undefined));
    }
    await Promise.all(closing);
  }
}
