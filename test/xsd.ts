/**
 * Test helper: reads the official 202205 export XSD (shared/ceb-spec/xsd) at run time and returns,
 * per top-level element, its child elements in sequence order with their facets. Nothing here is
 * copied from the XSD by hand; the tests compare src/spec/fields.ts against what this returns.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { XMLParser } from 'fast-xml-parser';

export interface XsdChild {
  /** Element name (for `ref="ceb:X"` children: `X`). */
  readonly name: string;
  /** True when the child is `<xs:element ref=...>` rather than a local declaration. */
  readonly isRef: boolean;
  /** Restriction base (`xs:string`, `xs:decimal`, `xs:int`), or the `type=` attribute, if any. */
  readonly base?: string;
  readonly minOccurs: number;
  /** `Infinity` for `unbounded`. */
  readonly maxOccurs: number;
  readonly length?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly totalDigits?: number;
  readonly fractionDigits?: number;
  readonly whiteSpace?: string;
  readonly fixed?: string;
  readonly default?: string;
}

export interface XsdElement {
  readonly name: string;
  /** Children of the element's `xs:complexType/xs:sequence`, in order (empty for simple elements). */
  readonly children: readonly XsdChild[];
}

/** Walks up from this file to the directory holding package.json (the project root). */
export function projectRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${from}`);
    dir = up;
  }
}

export function xsdPath(): string {
  return join(projectRoot(), '..', 'shared', 'ceb-spec', 'xsd', 'ceb-export-202205.xsd');
}

type Node = Record<string, unknown>;

const ARRAYS = new Set(['xs:element', 'xs:attribute']);

function obj(v: unknown): Node | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Node) : undefined;
}
function list(v: unknown): Node[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map((x) => obj(x) ?? {});
}
function attr(n: Node, name: string): string | undefined {
  const v = n[`@_${name}`];
  return v === undefined ? undefined : String(v);
}
function facet(restriction: Node | undefined, name: string): string | undefined {
  const f = restriction ? obj(restriction[`xs:${name}`]) : undefined;
  return f ? attr(f, 'value') : undefined;
}
function num(s: string | undefined): number | undefined {
  return s === undefined ? undefined : Number(s);
}
function localName(qname: string): string {
  const i = qname.indexOf(':');
  return i < 0 ? qname : qname.slice(i + 1);
}

function child(el: Node): XsdChild {
  const ref = attr(el, 'ref');
  const restriction = obj(obj(el['xs:simpleType'])?.['xs:restriction']);
  const maxOccurs = attr(el, 'maxOccurs');
  const c: Record<string, unknown> = {
    name: ref !== undefined ? localName(ref) : (attr(el, 'name') ?? ''),
    isRef: ref !== undefined,
    base: restriction ? attr(restriction, 'base') : attr(el, 'type'),
    minOccurs: Number(attr(el, 'minOccurs') ?? '1'),
    maxOccurs: maxOccurs === 'unbounded' ? Infinity : Number(maxOccurs ?? '1'),
    length: num(facet(restriction, 'length')),
    minLength: num(facet(restriction, 'minLength')),
    maxLength: num(facet(restriction, 'maxLength')),
    totalDigits: num(facet(restriction, 'totalDigits')),
    fractionDigits: num(facet(restriction, 'fractionDigits')),
    whiteSpace: facet(restriction, 'whiteSpace'),
    fixed: attr(el, 'fixed'),
    default: attr(el, 'default'),
  };
  for (const k of Object.keys(c)) if (c[k] === undefined) delete c[k];
  return c as unknown as XsdChild;
}

/** Parses XSD text into its top-level elements, keyed by name. */
export function parseXsd(text: string): ReadonlyMap<string, XsdElement> {
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@_',
    parseAttributeValue: false,
    parseTagValue: false,
    ignoreDeclaration: true,
    commentPropName: '#comment',
    isArray: (tagName) => ARRAYS.has(tagName),
  });
  const doc = obj(parser.parse(text));
  const schema = obj(doc?.['xs:schema']);
  if (!schema) throw new Error('no xs:schema root');
  const out = new Map<string, XsdElement>();
  for (const el of list(schema['xs:element'])) {
    const name = attr(el, 'name');
    if (name === undefined) continue;
    const seq = obj(obj(el['xs:complexType'])?.['xs:sequence']);
    const children = seq ? list(seq['xs:element']).map(child) : [];
    out.set(name, { name, children });
  }
  return out;
}

let cached: ReadonlyMap<string, XsdElement> | undefined;

/** The top-level elements of the 202205 export XSD, parsed once per process. */
export function loadXsd(): ReadonlyMap<string, XsdElement> {
  cached ??= parseXsd(readFileSync(xsdPath(), 'utf8'));
  return cached;
}

/** The children of one top-level element; throws when the XSD has no such element. */
export function xsdChildren(element: string): readonly XsdChild[] {
  const el = loadXsd().get(element);
  if (!el) throw new Error(`XSD has no top-level element ${element}`);
  return el.children;
}
