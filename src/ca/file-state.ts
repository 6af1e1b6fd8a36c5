/**
 * The CA's state as JSON files in its directory (one box, the default): issued.json, revoked.json,
 * tokens.json. Every change runs under the directory lock with a fresh read from disk, so the
 * gateway, its workers and `tollgate ca …` commands can share the directory.
 */
import { join } from 'node:path';
import { GatewayError } from '../core/errors.js';
import { readJsonFile, withDirLock, writeJsonFile } from './store.js';
import { CaError, RevocationList, TOKEN_KEEP_AFTER_EXP_MS } from './state.js';
import type { CaStateStore, IssuedRecord, RevokedRecord, RevokeOutcome, SpentToken } from './state.js';

/** The state files inside the CA directory. */
export const STATE_FILES = Object.freeze({
  issued: 'issued.json',
  revoked: 'revoked.json',
  tokens: 'tokens.json',
});

interface IssuedFile {
  version: 1;
  certificates: IssuedRecord[];
}
interface RevokedFile {
  version: 1;
  revoked: RevokedRecord[];
}
interface TokensFile {
  version: 1;
  used: { jti: string; exp: string }[];
}

const emptyIssued = (): IssuedFile => ({ version: 1, certificates: [] });
const emptyRevoked = (): RevokedFile => ({ version: 1, revoked: [] });
const emptyTokens = (): TokensFile => ({ version: 1, used: [] });

/** Writes the empty state files of a new CA (the caller holds the directory lock). */
export async function initFileState(dir: string): Promise<void> {
  await writeJsonFile(join(dir, STATE_FILES.issued), emptyIssued());
  await writeJsonFile(join(dir, STATE_FILES.revoked), emptyRevoked());
  await writeJsonFile(join(dir, STATE_FILES.tokens), emptyTokens());
}

const reused = (): GatewayError => new GatewayError('TOKEN_REUSED', 'This token has already been used');

/** The file state of the CA in `dir`. */
export class FileCaState implements CaStateStore {
  readonly kind = 'file' as const;
  readonly #dir: string;
  readonly #revoked = new RevocationList();
  #byHash = new Map<string, IssuedRecord>();

  constructor(dir: string) {
    this.#dir = dir;
  }

  async open(): Promise<void> {
    await this.refresh();
  }

  async tokenUsed(jti: string): Promise<boolean> {
    return (await this.#readTokens()).used.some((u) => u.jti === jti);
  }

  async consumeToken(token: SpentToken, nowMs: number): Promise<void> {
    await withDirLock(this.#dir, async () => {
      await this.#spend(token, nowMs);
    });
  }

  async recordIssued(record: IssuedRecord, nowMs: number, token?: SpentToken): Promise<void> {
    await withDirLock(this.#dir, async () => {
      // The token first: a crash between the two writes leaves it spent and nothing issued, never the reverse.
      if (token !== undefined) await this.#spend(token, nowMs);
      const file = await this.#readIssued();
      // Expired records are pruned here: nothing renews, lists or revokes an expired certificate.
      file.certificates = file.certificates.filter((c) => Date.parse(c.notAfter) > nowMs);
      file.certificates.push(record);
      await writeJsonFile(join(this.#dir, STATE_FILES.issued), file);
      this.#index(file.certificates);
    });
  }

  async findIssuedByHash(certHash: string): Promise<IssuedRecord | undefined> {
    const hit = this.#byHash.get(certHash);
    if (hit !== undefined) return hit;
    this.#index((await this.#readIssued()).certificates);
    return this.#byHash.get(certHash);
  }

  async listIssued(): Promise<IssuedRecord[]> {
    return (await this.#readIssued()).certificates;
  }

  async revoke(entries: readonly RevokedRecord[]): Promise<RevokeOutcome[]> {
    return withDirLock(this.#dir, async () => {
      const issued = new Set((await this.#readIssued()).certificates.map((c) => c.serial));
      const file = await readJsonFile<RevokedFile>(join(this.#dir, STATE_FILES.revoked), emptyRevoked());
      const listed = new Set(file.revoked.map((r) => r.serial));
      const out = entries.map((e): RevokeOutcome => {
        const alreadyRevoked = listed.has(e.serial);
        if (!alreadyRevoked) {
          file.revoked.push({ serial: e.serial, reason: e.reason, revokedAt: e.revokedAt });
          listed.add(e.serial);
        }
        return { alreadyRevoked, known: issued.has(e.serial) };
      });
      if (out.some((o) => !o.alreadyRevoked)) await writeJsonFile(join(this.#dir, STATE_FILES.revoked), file);
      this.#revoked.set(file.revoked);
      return out;
    });
  }

  async refresh(): Promise<void> {
    const file = await readJsonFile<RevokedFile>(join(this.#dir, STATE_FILES.revoked), emptyRevoked());
    this.#revoked.set(file.revoked);
    this.#index((await this.#readIssued()).certificates);
  }

  revocations(): readonly RevokedRecord[] {
    return this.#revoked.records;
  }

  isRevoked(serialHex: string): boolean {
    return this.#revoked.has(serialHex);
  }

  async close(): Promise<void> {
    /* nothing held open */
  }

  /** Records the token as used; the caller holds the lock. */
  async #spend(token: SpentToken, nowMs: number): Promise<void> {
    const path = join(this.#dir, STATE_FILES.tokens);
    const file = await this.#readTokens();
    if (file.used.some((u) => u.jti === token.jti)) throw reused();
    // An expired token fails verification anyway, so its jti need not be kept (with slack for clock skew).
    const keepAfter = nowMs - TOKEN_KEEP_AFTER_EXP_MS;
    file.used = file.used.filter((u) => Date.parse(u.exp) > keepAfter);
    file.used.push({ jti: token.jti, exp: new Date(token.expMs).toISOString() });
    await writeJsonFile(path, file);
  }

  async #readTokens(): Promise<TokensFile> {
    return readJsonFile<TokensFile>(join(this.#dir, STATE_FILES.tokens), emptyTokens());
  }

  async #readIssued(): Promise<IssuedFile> {
    const file = await readJsonFile<IssuedFile>(join(this.#dir, STATE_FILES.issued), emptyIssued());
    if (!Array.isArray(file.certificates)) throw new CaError('INVALID', `${join(this.#dir, STATE_FILES.issued)} is damaged.`);
    return file;
  }

  #index(records: readonly IssuedRecord[]): void {
    const byHash = new Map<string, IssuedRecord>();
    for (const r of records) byHash.set(r.certHash, r);
    this.#byHash = byHash;
  }
}
