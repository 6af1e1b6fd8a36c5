/**
 * Runtime overrides an operator sets on the admin API (drain a target, force its health, force a
 * pool's tier): the shapes the admin API and the control plane's registry (control/overrides.ts)
 * share. Overrides live beside the config, not in it: they survive reloads and are cleared only
 * explicitly (or by a restart).
 */
import type { TargetAdminState } from '../upstream/target-state.js';

export type { TargetAdminState } from '../upstream/target-state.js';

/** Who set an override, for the audit log and /status. Never holds a secret. */
export interface OverrideActor {
  /** The admin client's address. */
  readonly address: string;
  /** `token` when the request carried the configured admin bearer token, `none` otherwise (loopback, no token configured). */
  readonly auth: 'token' | 'none';
}

/** One override in force. */
export type OverrideRecord =
  | {
      readonly kind: 'target';
      readonly upstream: string;
      /** The target URL as configured (the `url` of /status). */
      readonly target: string;
      readonly state: TargetAdminState;
      readonly reason: string | null;
      readonly by: OverrideActor;
      /** ISO 8601 wall time it was set. */
      readonly at: string;
    }
  | {
      readonly kind: 'tier';
      readonly upstream: string;
      readonly tier: 'primary' | 'backup';
      readonly reason: string | null;
      readonly by: OverrideActor;
      readonly at: string;
    };

/** Why an override request was refused: `status` is the HTTP status (400 bad value, 404 unknown upstream or target). */
export class OverrideRefused extends Error {
  constructor(
    readonly status: 400 | 404,
    message: string,
  ) {
    super(message);
    this.name = 'OverrideRefused';
  }
}

/** What the admin API may do with overrides (the registry implements it). */
export interface AdminOverrides {
  /** Every override in force, targets first, in the order they were set. */
  list(): readonly OverrideRecord[];
  /** Sets (or replaces) a target's override; `target` is the URL as configured or its `host:port`. Throws OverrideRefused. */
  setTarget(upstream: string, target: string, state: TargetAdminState, by: OverrideActor, reason?: string): OverrideRecord;
  /** Clears a target's override; the cleared record, or undefined when there was none. */
  clearTarget(upstream: string, target: string, by: OverrideActor): OverrideRecord | undefined;
  /** Forces `upstream` to one tier. Throws OverrideRefused. */
  setTier(upstream: string, tier: 'primary' | 'backup', by: OverrideActor, reason?: string): OverrideRecord;
  /** Clears a pool's forced tier; the cleared record, or undefined when there was none. */
  clearTier(upstream: string, by: OverrideActor): OverrideRecord | undefined;
}
