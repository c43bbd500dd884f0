/**
 * Helpers of the XML reader tests (xml.test.ts, xml-whole.test.ts): read a source to its outcome
 * and entities, cut bytes into a stream of random pieces, the official samples.
 */
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { readCebXml, type RawEntity, type XmlCaps, type XmlFileOutcome } from '../src/ingest/xml.js';
import { projectRoot } from './xsd.js';

export const CEB_NS = 'http://www.chinaport.gov.cn/ceb';
const SAMPLES = join(projectRoot(), '..', 'shared', 'ceb-spec', 'samples-202205');

/** An official sample message by its code (CEB303, CEB505, …). */
export const sample = (code: string) => join(SAMPLES, `${code}Message.xml`);

/** Plain copy of a record (records are null-prototype objects). */
export const plain = (r: Record<string, string>) => ({ ...r });

export interface Read {
  outcome: XmlFileOutcome;
  entities: RawEntity[];
}

export async function read(source: string | Readable, caps?: XmlCaps): Promise<Read> {
  const entities: RawEntity[] = [];
  const outcome = await readCebXml(source, (e) => entities.push(e), caps);
  return { outcome, entities };
}

/** A byte stream of `data` cut into pieces of 1..maxPiece bytes (deterministic). */
export function chopped(data: Uint8Array, maxPiece: number): Readable {
  let seed = 12345;
  return Readable.from(
    (function* () {
      for (let i = 0; i < data.length; ) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        const n = 1 + (seed % maxPiece);
        yield Buffer.from(data.subarray(i, i + n));
        i += n;
      }
    })(),
  );
}
