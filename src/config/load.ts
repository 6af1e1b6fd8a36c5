/** Reads a config file from disk and validates it. */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { analyzeConfigText, ConfigError, validateConfigText, type ConfigAnalysis, type ValidatedConfig } from './validate.js';

export interface LoadedConfig extends ValidatedConfig {
  readonly path: string;
}

async function readConfig(path: string): Promise<{ abs: string; text: string }> {
  const abs = resolve(path);
  try {
    return { abs, text: await readFile(abs, 'utf8') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError([{ path: '', message: code === 'ENOENT' ? `config file not found: ${path}` : `cannot read config file ${path}: ${code ?? String(err)}` }]);
  }
}

/** Loads and validates `path`; throws ConfigError (with every problem, each with `path:line:col`) when it can't be used. */
export async function loadConfigFile(path: string): Promise<LoadedConfig> {
  const { abs, text } = await readConfig(path);
  return { ...validateConfigText(text, dirname(abs), path), path: abs };
}

/** Every problem and warning of `path` without refusing anything (for `tollgate check`); throws ConfigError only when the file can't be read. */
export async function analyzeConfigFile(path: string): Promise<ConfigAnalysis> {
  const { abs, text } = await readConfig(path);
  return analyzeConfigText(text, dirname(abs), path);
}
