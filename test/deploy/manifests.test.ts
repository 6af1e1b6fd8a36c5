/**
 * deploy/: the docker-compose file and the Kubernetes manifests are YAML that no engine checks here
 * (these machines run no Docker or Kubernetes), so this test checks what would break them: the
 * gateway configs they carry pass our own validation, and the pieces point at each other.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { validateConfigText } from '../../src/config/validate.js';
import { parseDuration } from '../../src/core/duration.js';

const root = join(import.meta.dirname, '..', '..', 'deploy');

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function manifests(): Promise<Obj[]> {
  const dir = join(root, 'kubernetes');
  const out: Obj[] = [];
  for (const f of (await readdir(dir)).filter((n) => n.endsWith('.yaml')).sort()) {
    for (const doc of parseAllDocuments(await readFile(join(dir, f), 'utf8'))) {
      expect(doc.errors, f).toEqual([]);
      out.push(doc.toJS() as Obj);
    }
  }
  return out;
}

const byKind = (all: Obj[], kind: string): Obj[] => all.filter((m) => m.kind === kind);
const one = (all: Obj[], kind: string): Obj => {
  const found = byKind(all, kind);
  expect(found, kind).toHaveLength(1);
  return found[0] as Obj;
};

describe('deploy/kubernetes', () => {
  it('ok/every manifest names an apiVersion, kind and metadata.name', async () => {
    const all = await manifests();
    expect(all.length).toBeGreaterThanOrEqual(5);
    for (const m of all) {
      expect(typeof m.apiVersion).toBe('string');
      expect(typeof m.kind).toBe('string');
      expect(typeof m.metadata?.name).toBe('string');
    }
  });

  it('ok/the ConfigMap holds a gateway config that passes validation, with a shared store and an admin port reachable by probes', async () => {
    const all = await manifests();
    const cm = one(all, 'ConfigMap');
    const { spec } = validateConfigText(cm.data['gateway.yaml'] as string, '/etc/tollgate');
    expect(spec.store.type).toBe('redis');
    expect(spec.admin.host).toBe('0.0.0.0');

    const dep = one(all, 'Deployment');
    const pod = dep.spec.template.spec;
    const c = pod.containers[0];
    const ports = Object.fromEntries((c.ports as Obj[]).map((p) => [p.name, p.containerPort]));
    expect(ports.https).toBe(spec.listen.port);
    expect(ports.admin).toBe(spec.admin.port);
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    // The config file the container is told to read is where the ConfigMap is mounted.
    const cfgMount = (c.volumeMounts as Obj[]).find((v) => v.name === 'config') as Obj;
    // --watch follows ConfigMap edits; only a whole-directory mount receives them (a subPath never does).
    expect(c.args).toEqual(['start', '--config', `${cfgMount.mountPath}/gateway.yaml`, '--watch']);
    expect(cfgMount.subPath).toBeUndefined();
    expect(cfgMount.readOnly).toBe(true);
    expect((pod.volumes as Obj[]).find((v) => v.name === 'config')?.configMap?.name).toBe(cm.metadata.name);
    // The CA directory of the config is a writable mount.
    const caMount = (c.volumeMounts as Obj[]).find((v) => v.mountPath === spec.ca.dir) as Obj;
    expect(caMount).toBeDefined();
    expect(caMount.readOnly).not.toBe(true);
    // Kubernetes must not kill the pod before preStop and the drain have finished.
    const drainSec = (parseDuration(spec.shutdown.drainTimeout) ?? 0) / 1000;
    const preStopSec = c.lifecycle.preStop.sleep.seconds as number;
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(preStopSec + drainSec);
  });

  it('ok/the Services and the PodDisruptionBudget select the Deployment pods and name its ports', async () => {
    const all = await manifests();
    const dep = one(all, 'Deployment');
    const labels = dep.spec.template.metadata.labels as Record<string, string>;
    expect(dep.spec.selector.matchLabels).toEqual(labels);
    expect(dep.spec.replicas).toBeGreaterThanOrEqual(2);
    const portNames = new Set((dep.spec.template.spec.containers[0].ports as Obj[]).map((p) => p.name));
    const services = byKind(all, 'Service');
    expect(services.length).toBeGreaterThanOrEqual(1);
    for (const svc of services) {
      for (const [k, v] of Object.entries(svc.spec.selector as Record<string, string>)) expect(labels[k]).toBe(v);
      for (const p of svc.spec.ports as Obj[]) expect(portNames.has(p.targetPort)).toBe(true);
    }
    const pdb = one(all, 'PodDisruptionBudget');
    for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels as Record<string, string>)) expect(labels[k]).toBe(v);
    expect(pdb.spec.minAvailable).toBeLessThan(dep.spec.replicas);
  });
});

describe('deploy/compose', () => {
  it('ok/two gateway replicas share one Redis and one CA volume, with a config that passes validation', async () => {
    const compose = parseAllDocuments(await readFile(join(root, 'compose', 'docker-compose.yml'), 'utf8'), { merge: true })[0]?.toJS() as Obj;
    const { spec } = validateConfigText(await readFile(join(root, 'compose', 'gateway.yaml'), 'utf8'), '/app/deploy');
    expect(spec.store.type).toBe('redis');
    const redisHost = new URL(spec.store.redis.url).hostname;
    expect(compose.services[redisHost]).toBeDefined();
    const gateways = Object.entries(compose.services as Record<string, Obj>).filter(([name]) => name.startsWith('gateway-'));
    expect(gateways).toHaveLength(2);
    const hostPorts = new Set<string>();
    for (const [, svc] of gateways) {
      expect(svc.command).toEqual(['start', '--config', '/app/deploy/gateway.yaml']);
      expect(svc.volumes).toContain('./gateway.yaml:/app/deploy/gateway.yaml:ro');
      expect((svc.volumes as string[]).some((v) => v.startsWith('ca:') && spec.ca.dir.startsWith(v.split(':')[1] as string))).toBe(true);
      expect(svc.depends_on[redisHost]).toEqual({ condition: 'service_healthy' });
      for (const p of svc.ports as string[]) {
        expect(hostPorts.has(p.split(':')[0] as string)).toBe(false);
        hostPorts.add(p.split(':')[0] as string);
      }
    }
  });
});
