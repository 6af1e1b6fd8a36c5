/**
 * The CA's mutable state, behind one interface so the control plane chooses where it lives:
 * the used bootstrap tokens, the issued-certificate index and the revocation list. The CA keys are
 * never part of it (they stay files). Two implementations:
 *
 * - file-state.ts: JSON files in the CA directory under its lock (one box; the default);
 * - redis-state.ts: one Redis shared by every replica (`store.type: redis`).
 *
 * The data path sees only `isRevoked` (through the authority), a Set lookup on the list as last read.
 */
import { canonicalSerial } from './x509.js';

/** One certificate in the issued index. Times are ISO 8601. */
export interface IssuedRecord {
  readonly serial: string;
  readonly spiffeId: string;
  readonly dns: readonly string[];
  readonly ip: readonly string[];
  readonly notBefore: string;
  readonly notAfter: string;
  /** sha256 of the DER, lowercase hex: how the CA API recognises a renewing client's certificate. */
  readonly certHash: string;
}

/** One entry of the revocation list. */
export interface RevokedRecord {
  readonly serial: string;
  readonly reason: string;
  readonly revokedAt: string;
}

/** A bootstrap token being spent: its id and expiry (ms since the epoch). */
export interface SpentToken {
  readonly jti: string;
  readonly expMs: number;
}

/** What `revoke` did with one entry. */
export interface RevokeOutcome {
  readonly alreadyRevoked: boolean;
  /** The serial is in the issued index. */
  readonly known: boolean;
}

/** A used token id is remembered this long after the token's expiry (the verifier's skew allowance, with room). */
export const TOKEN_KEEP_AFTER_EXP_MS = 5 * 60_000;

/** Where the CA keeps what changes. Every method may throw GatewayError('CA_UNAVAILABLE') when the store can't be reached. */
export interface CaStateStore {
  /** 'file' (this box's CA directory) or 'redis' (shared by the replicas). */
  readonly kind: 'file' | 'redis';
  /** Connects and reads the revocation list once. Never rejects for an unreachable store (the list stays as it was). */
  open(): Promise<void>;
  /** True when the token id was spent already (a cheap check before signing). */
  tokenUsed(jti: string): Promise<boolean>;
  /** Spends a token id; GatewayError('TOKEN_REUSED') when it was spent already, by any process sharing the state. */
  consumeToken(token: SpentToken, nowMs: number): Promise<void>;
  /**
   * Adds `record` to the issued index, pruning entries expired at `nowMs`. With `token`, spends it in
   * the same atomic step: TOKEN_REUSED (and nothing recorded) when it was spent already.
   */
  recordIssued(record: IssuedRecord, nowMs: number, token?: SpentToken): Promise<void>;
  /** An unexpired index entry by certificate hash. */
  findIssuedByHash(certHash: string): Promise<IssuedRecord | undefined>;
  /** The issued index. */
  listIssued(nowMs: number): Promise<IssuedRecord[]>;
  /** Adds entries to the revocation list (an entry already there keeps its first reason and time). */
  revoke(entries: readonly RevokedRecord[]): Promise<RevokeOutcome[]>;
  /** Re-reads the revocation list; throws when it can't be read. */
  refresh(): Promise<void>;
  /** The revocation list as last read. */
  revocations(): readonly RevokedRecord[];
  /** True when the serial (any accepted form) is on the list as last read. Hot path. */
  isRevoked(serialHex: string): boolean;
  close(): Promise<void>;
}

/** The revocation list as last read, with the Set the hot path asks. */
export class RevocationList {
  #records: readonly RevokedRecord[] = Object.freeze([]);
  #serials: ReadonlySet<string> = new Set();

  /** Replaces the list. */
  set(records: readonly RevokedRecord[]): void {
    this.#records = Object.freeze([...records]);
    this.#serials = new Set(records.map((r) => r.serial));
  }

  get records(): readonly RevokedRecord[] {
    return this.#records;
  }

  get size(): number {
    return this.#serials.size;
  }

  has(serialHex: string): boolean {
    if (this.#serials.size === 0) return false;
    const canonical = canonicalSerial(serialHex);
    return canonical !== undefined && this.#serials.has(canonical);
  }
}

/** Why a CA directory cannot be created or opened. */
export type CaErrorCode = 'EXISTS' | 'NOT_FOUND' | 'MISMATCH' | 'INVALID';

/** A CA failure with a message fit for an operator (the CLI prints it as is). */
export class CaError extends Error {
  readonly code: CaErrorCode;
  constructor(code: CaErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CaError';
    this.code = code;
  }
}
