import { readFileSync } from 'node:fs';
import { MeshletError, SharedErrorCodes } from './errors.js';

/**
 * Reads, at start, a file that a setting names (a certificate, a key, a
 * tokens or password file). When it cannot, throws
 * `MESHLET_CONFIG_UNREADABLE` naming the setting and the file; `reader` is
 * the process that must be allowed to read it.
 */
export function readSettingFile(setting: string, file: string, reader = 'the control plane'): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new MeshletError(
      SharedErrorCodes.CONFIG_UNREADABLE,
      `cannot read ${setting} ${file}: ${(e as Error).message}. Fix: check the path and that ${reader} may read the file`,
      { cause: e },
    );
  }
}
