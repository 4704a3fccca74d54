// What `run` records and `resume` checks about a run's code (see fingerprint.ts for which
// changes refuse a resume and which only warn).
import { createHash } from 'node:crypto';
import { MmrunError } from '../errors.ts';
import type { LoadedExperiment } from '../experiment/load.ts';
import { descrOf } from '../storage/dtype.ts';
import {
  type CodeChange,
  compareFingerprints,
  type Fingerprint,
  fingerprintOf,
  parseFingerprint,
} from './fingerprint.ts';
import { type SourceSnapshot, snapshotOf } from './sources.ts';

/** The code of a loaded experiment: its fingerprint and the text of its files. */
export interface CodeIdentity {
  readonly fingerprint: Fingerprint;
  /** The fingerprint as stored in the catalog. */
  readonly json: string;
  readonly snapshot: SourceSnapshot;
}

/**
 * The fingerprint and source snapshot of `loaded`, from the step that bundled it.
 * @throws MmrunError EXPERIMENT_CHANGED if a file changed between the bundling and now.
 */
export function codeIdentity(loaded: LoadedExperiment): CodeIdentity {
  // A sweep's points share one loaded experiment: its files are read and checked once.
  const known = identities.get(loaded);
  if (known) return known;
  const fingerprint = fingerprintOf(loaded.bundle, descrOf(loaded.layout));
  const snapshot = snapshotOf(fingerprint);
  for (const f of fingerprint.files) {
    if (
      createHash('sha256')
        .update(snapshot.files[f.path] ?? '')
        .digest('hex') !== f.sha256
    ) {
      throw new MmrunError('EXPERIMENT_CHANGED', `${f.path} changed while mmrun was loading it`, {
        remedy: 'leave the experiment and its modules alone while a run starts, then try again',
      });
    }
  }
  const identity = { fingerprint, json: JSON.stringify(fingerprint), snapshot };
  identities.set(loaded, identity);
  return identity;
}

const identities = new WeakMap<LoadedExperiment, CodeIdentity>();

/** What `resume` found comparing the run's stored code with the code now. */
export interface CodeCheck {
  readonly identity: CodeIdentity;
  /** Changes that refuse a resume unless accepted (`--allow-changed`). */
  readonly fatal: readonly CodeChange[];
  /** Changes that only warn. */
  readonly warnings: readonly CodeChange[];
  /** Whether the stored fingerprint must be replaced (any change, or a run made before fingerprints). */
  readonly update: boolean;
  /** The stored fingerprint (JSON), if the run has one. */
  readonly before: string | undefined;
}

/**
 * Compares the run's stored code (its fingerprint; for a run made before fingerprints,
 * the sha256 of its experiment file) with `loaded`.
 * @throws MmrunError EXPERIMENT_CHANGED naming every fatal change, unless `allowChanged`.
 */
export function checkCode(
  runId: string,
  stored: { readonly fingerprint: string | undefined; readonly sourceHash: string },
  loaded: LoadedExperiment,
  allowChanged: boolean,
): CodeCheck {
  const identity = codeIdentity(loaded);
  const before = parseFingerprint(stored.fingerprint);
  let changes: CodeChange[];
  if (before) {
    changes = compareFingerprints(before, identity.fingerprint);
  } else {
    const file = identity.fingerprint.files[0]?.path ?? loaded.path;
    changes =
      stored.sourceHash === loaded.sourceHash
        ? []
        : [
            {
              part: 'file',
              name: file,
              fatal: true,
              message: `${file} changed (sha256 ${stored.sourceHash.slice(0, 12)} then, ${loaded.sourceHash.slice(0, 12)} now)`,
            },
          ];
    changes.push({
      part: 'file',
      name: file,
      fatal: false,
      message: `run '${runId}' was made before code fingerprints: only ${file} itself was compared; from now on every module it imports is`,
    });
  }
  const fatal = changes.filter((c) => c.fatal);
  const warnings = changes.filter((c) => !c.fatal);
  if (fatal.length > 0 && !allowChanged) {
    throw new MmrunError(
      'EXPERIMENT_CHANGED',
      `the code of run '${runId}' changed since it began: ${fatal.map((c) => c.message).join('; ')}`,
      {
        remedy:
          'restore the original code (`mmrun show <run> --source` prints it), or pass --allow-changed if the change keeps results identical',
      },
    );
  }
  return { identity, fatal, warnings, update: changes.length > 0, before: stored.fingerprint };
}
