/** Reads a config file from disk and validates it. */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError, validateConfigText, type ValidatedConfig } from './validate.js';

export interface LoadedConfig extends ValidatedConfig {
  readonly path: string;
}

/** Loads and validates `path`; throws ConfigError (with every problem) when it can't be used. */
export async function loadConfigFile(path: string): Promise<LoadedConfig> {
  const abs = resolve(path);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError([{ path: '', message: code === 'ENOENT' ? `config file not found: ${path}` : `cannot read config file ${path}: ${code ?? String(err)}` }]);
  }
  return { ...validateConfigText(text, dirname(abs)), path: abs };
}
