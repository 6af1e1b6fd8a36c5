/**
 * A reload in two phases, so a refused reload changes nothing:
 *
 * - `prepareReload` builds everything the new config needs (TLS material read from its files, a new
 *   store when `store` changed, the compiled snapshot with any new pools) and touches nothing that
 *   runs: the holder, the listener and the running store are as before. It throws when any step fails,
 *   after freeing what it had built.
 * - `commit()` puts the prepared config in force: TLS material, the snapshot swap, the listener's
 *   secure context, clientAuth and limits, the store; then the old store and pools closed.
 * - `discard()` frees a prepared config that is not wanted: its new store and the pools built only for it.
 *
 * The lifecycle (control/lifecycle.ts) loads the file, calls these and reports the result.
 */
import type { Http2SecureServer } from 'node:http2';
import type { LoadedConfig } from '../config/load.js';
import type { SnapshotHolder } from '../runtime/holder.js';
import type { PoolRuntime, RuntimeSnapshot } from '../runtime/snapshot.js';
import { applyLimits, applyListenerTls, type ListenerLimits, type ListenerTls } from '../server/listener.js';
import type { GatewaySpec } from '../spec/schema.js';
import type { PoolRegistry } from './registries.js';
import type { SharedResources } from './resources.js';
import type { ManagedStore } from './store-factory.js';
import type { PreparedTls, TlsSource } from './tls-source.js';

/** What is in force now; `commit()` updates it. */
export interface LiveConfig {
  loaded: LoadedConfig;
  store: ManagedStore;
  listenerTls: ListenerTls;
  generation: number;
}

export interface ReloadDeps {
  readonly live: LiveConfig;
  readonly holder: SnapshotHolder;
  readonly server: Http2SecureServer;
  readonly registry: PoolRegistry;
  readonly resources: SharedResources;
  readonly tls: Pick<TlsSource, 'prepare'>;
  createStore(spec: GatewaySpec['store']): Promise<ManagedStore>;
  build(cfg: LoadedConfig, store: ManagedStore, generation: number): RuntimeSnapshot;
  listenerLimits(spec: GatewaySpec): ListenerLimits;
}

export interface PreparedReload {
  readonly loaded: LoadedConfig;
  readonly snapshot: RuntimeSnapshot;
  commit(): Promise<void>;
  discard(): Promise<void>;
}

/** Builds the reload of `next`; nothing running changes. Throws (having freed its work) when a step fails. */
export async function prepareReload(next: LoadedConfig, deps: ReloadDeps): Promise<PreparedReload> {
  const { live, registry } = deps;
  const running = new Set<PoolRuntime>(deps.holder.current.pools.values());
  const runningResources = deps.holder.current.resources;
  let newStore: ManagedStore | undefined;
  const free = async (): Promise<void> => {
    await registry.discardExcept(new Set(), running);
    await deps.resources.discardExcept(new Set(), runningResources);
    if (newStore !== undefined) await newStore.close();
  };
  let tls: PreparedTls;
  let snapshot: RuntimeSnapshot;
  try {
    tls = await deps.tls.prepare(next.spec);
    if (JSON.stringify(next.spec.store) !== JSON.stringify(live.loaded.spec.store)) {
      newStore = await deps.createStore(next.spec.store);
      await newStore.ready();
    }
    snapshot = deps.build(next, newStore ?? live.store, live.generation + 1);
    // New pools with DNS targets take traffic only once their names have been asked (bounded by dns.timeout).
    await registry.resolved();
  } catch (err) {
    await free();
    throw err;
  }
  let settled = false;
  const once = (): void => {
    if (settled) throw new Error('a prepared reload is committed or discarded once');
    settled = true;
  };
  return {
    loaded: next,
    snapshot,
    commit: async () => {
      once();
      try {
        // The one step that reads a file (the revocation list); before it, nothing is in force.
        await tls.apply();
      } catch (err) {
        await free();
        throw err;
      }
      // The swap: requests already running keep the snapshot they pinned.
      deps.holder.swap(snapshot);
      live.generation++;
      if (tlsChanged(live.listenerTls, tls.listenerTls)) {
        applyListenerTls(deps.server, tls.listenerTls);
        // tls.Server reads these per new connection, so a reload can change clientAuth too.
        Object.assign(deps.server, { requestCert: tls.listenerTls.clientAuth !== 'none', rejectUnauthorized: tls.listenerTls.clientAuth === 'require' });
        live.listenerTls = tls.listenerTls;
      }
      applyLimits(deps.server, deps.listenerLimits(next.spec));
      live.loaded = next;
      if (newStore !== undefined) {
        const old = live.store;
        live.store = newStore;
        void old.close();
      }
      await registry.retire(new Set(snapshot.pools.values()));
      await deps.resources.retire(snapshot.resources);
    },
    discard: async () => {
      once();
      await free();
    },
  };
}

export function tlsChanged(a: ListenerTls, b: ListenerTls): boolean {
  return (
    a.certPem !== b.certPem ||
    a.keyPem !== b.keyPem ||
    a.minVersion !== b.minVersion ||
    a.clientAuth !== b.clientAuth ||
    a.clientCaPem.length !== b.clientCaPem.length ||
    a.clientCaPem.some((pem, i) => pem !== b.clientCaPem[i]) ||
    (a.sni ?? []).length !== (b.sni ?? []).length ||
    (a.sni ?? []).some((c, i) => {
      const d = b.sni?.[i];
      return c.certPem !== d?.certPem || c.keyPem !== d.keyPem || c.names.join() !== d.names.join();
    })
  );
}
