/**
 * A small RFC 4180 CSV reader: comma-separated, fields optionally in double quotes (a doubled quote
 * inside a quoted field is one quote; quoted fields may hold commas and line breaks), records end
 * with CRLF or LF (a lone CR also ends a record), a leading UTF-8 BOM is dropped, and a final line
 * break does not start an empty record. Fields are returned as written (no trimming).
 */

export class CsvError extends Error {
  /** 1-based physical line where the problem is. */
  readonly line: number;
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'CsvError';
    this.line = line;
  }
}

export interface CsvRecord {
  /** 1-based physical line on which the record starts. */
  readonly line: number;
  readonly fields: string[];
}

/** Parses CSV text into records with the line each one starts on. Throws CsvError when malformed. */
export function parseCsvRecords(text: string, firstLine = 1): CsvRecord[] {
  const s = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const out: CsvRecord[] = [];
  const n = s.length;
  let i = 0;
  let line = firstLine;
  while (i < n) {
    const start = line;
    const fields: string[] = [];
    for (;;) {
      // one field
      let value = '';
      if (s[i] === '"') {
        const openLine = line;
        i++;
        for (;;) {
          if (i >= n) throw new CsvError(openLine, 'a quoted field is not closed (missing ")');
          const c = s[i]!;
          if (c === '"') {
            if (s[i + 1] === '"') {
              value += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === '\r') {
            line++;
            if (s[i + 1] === '\n') {
              value += '\r\n';
              i += 2;
              continue;
            }
          } else if (c === '\n') line++;
          value += c;
          i++;
        }
        const after = s[i];
        if (after !== undefined && after !== ',' && after !== '\r' && after !== '\n')
          throw new CsvError(line, `unexpected character ${JSON.stringify(after)} after a closing quote`);
      } else {
        const from = i;
        while (i < n) {
          const c = s[i]!;
          if (c === ',' || c === '\r' || c === '\n') break;
          if (c === '"')
            throw new CsvError(line, 'a quote inside an unquoted field (quote the whole field and double the quote)');
          i++;
        }
        value = s.slice(from, i);
      }
      fields.push(value);
      if (s[i] === ',') {
        i++;
        continue;
      }
      break;
    }
    // end of record: CRLF, LF, CR or end of text
    if (s[i] === '\r') {
      i += s[i + 1] === '\n' ? 2 : 1;
      line++;
    } else if (s[i] === '\n') {
      i++;
      line++;
    }
    out.push({ line: start, fields });
  }
  return out;
}

/** Parses CSV text into rows of fields (RFC 4180). Throws CsvError when malformed. */
export function parseCsv(text: string): string[][] {
  return parseCsvRecords(text).map((r) => r.fields);
}
