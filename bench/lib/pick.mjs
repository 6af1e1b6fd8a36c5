// Picks one attempt of a peer/protocol run (bench/out/runs/*.attempts.jsonl) for results.jsonl:
// the first failed attempt if any failed (a wrong answer fails the row), else the attempt with the
// least "other work" on the two cores, i.e. the one least disturbed by other jobs on the machine.
import { readFileSync } from 'node:fs';

const attempts = readFileSync(process.argv[2], 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l));
if (attempts.length === 0) process.exit(0);
const failed = attempts.find((a) => !a.ok);
const noise = (a) =>
  Math.max(
    (a.core0BusyPct ?? 100) - (a.proxyCpuPct ?? 0),
    (a.core1BusyPct ?? 100) - (a.originCpuPct ?? 0) - (a.loadgenCpuPct ?? 0),
  );
const chosen = failed ?? attempts.reduce((best, a) => (noise(a) < noise(best) ? a : best));
chosen.attempts = attempts.length;
if (attempts.length > 1) process.stderr.write(`  kept attempt ${attempts.indexOf(chosen) + 1} of ${attempts.length}\n`);
process.stdout.write(JSON.stringify(chosen) + '\n');
