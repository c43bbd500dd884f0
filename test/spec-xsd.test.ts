/**
 * The field tables of src/spec/fields.ts against the official 202205 export XSD, and the derived
 * staging DDL / Arrow schema against DuckDB and each other.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { DuckDBInstance } from '@duckdb/node-api';
import {
  MESSAGE_ROOTS,
  RECORD_SPECS,
  parentKeyFields,
  recordSpec,
  snakeCase,
  tabularColumns,
  type FieldSpec,
  type FieldType,
  type RecordSpec,
} from '../src/spec/fields.js';
import { PROVENANCE, allStagingDDL, arrowSchema, duckType, stagingColumns, stagingDDL, stagingTable } from '../src/spec/schema.js';
import { loadXsd, xsdChildren, type XsdChild } from './xsd.js';

const XSD_BASE: Readonly<Record<FieldType, string>> = {
  string: 'xs:string',
  timestamp: 'xs:string',
  date: 'xs:string',
  decimal: 'xs:decimal',
  integer: 'xs:int',
};

function describeField(f: FieldSpec) {
  return {
    name: f.name,
    base: XSD_BASE[f.type],
    required: f.required,
    length: f.length,
    minLength: f.minLength,
    maxLength: f.maxLength,
    totalDigits: f.totalDigits,
    fractionDigits: f.fractionDigits,
    fixed: f.fixed,
  };
}

function describeXsd(x: XsdChild) {
  return {
    name: x.name,
    base: x.base,
    required: x.minOccurs >= 1,
    length: x.length,
    // minLength 0 (some C..n fields spell it out) constrains nothing: the spec leaves it unset
    minLength: x.minLength === 0 ? undefined : x.minLength,
    maxLength: x.maxLength,
    totalDigits: x.totalDigits,
    fractionDigits: x.fractionDigits,
    fixed: x.fixed,
  };
}

describe('XSD helper', () => {
  test('finds the record elements and message roots', () => {
    const xsd = loadXsd();
    for (const name of ['OrderHead', 'InventoryHead', 'InvtRefundList', 'CEB603Message', 'BaseTransfer'])
      assert.ok(xsd.has(name), name);
  });

  test('reads facets, occurrence and fixed values', () => {
    const head = xsdChildren('InventoryHead');
    const byName = new Map(head.map((c) => [c.name, c]));
    assert.equal(head[0]?.name, 'guid');
    assert.equal(byName.get('guid')?.length, 36);
    assert.equal(byName.get('preNo')?.minOccurs, 0);
    assert.equal(byName.get('fFlag')?.fixed, '3');
    assert.equal(byName.get('freight')?.base, 'xs:decimal');
    assert.equal(byName.get('freight')?.totalDigits, 19);
    assert.equal(byName.get('freight')?.fractionDigits, 5);
    assert.equal(byName.get('packNo')?.base, 'xs:int');
    const inventory = xsdChildren('Inventory');
    assert.deepEqual(
      inventory.map((c) => [c.name, c.isRef, c.maxOccurs]),
      [
        ['InventoryHead', true, 1],
        ['InventoryList', true, 100],
      ],
    );
  });
});

describe('record specs agree with the 202205 XSD', () => {
  for (const spec of RECORD_SPECS) {
    describe(`${spec.name} (${spec.element})`, () => {
      const xsd = xsdChildren(spec.element);

      test('lists exactly the XSD children, in XSD order', () => {
        assert.ok(xsd.every((c) => !c.isRef), `${spec.element} has only local field declarations`);
        assert.deepEqual(
          spec.fields.map((f) => f.name),
          xsd.map((c) => c.name),
        );
      });

      test('field names are unique', () => {
        const names = spec.fields.map((f) => f.name);
        assert.equal(new Set(names).size, names.length);
      });

      for (const [i, f] of spec.fields.entries()) {
        test(`field ${f.name}: type, required, facets, fixed`, () => {
          const x = xsd[i];
          assert.ok(x, `XSD ${spec.element} has a child at position ${i}`);
          assert.deepEqual(describeField(f), describeXsd(x));
        });
      }

      test('timestamp and date fields are C14 / C8 strings', () => {
        for (const f of spec.fields) {
          if (f.type === 'timestamp') assert.equal(f.length, 14, f.name);
          if (f.type === 'date') assert.equal(f.length, 8, f.name);
        }
      });

      test('key fields are fields of the record (or, for lines, of the head)', () => {
        const own = new Set(spec.fields.map((f) => f.name));
        const head = spec.parent ? new Set(recordSpec(spec.parent).fields.map((f) => f.name)) : new Set<string>();
        for (const k of spec.key) assert.ok(own.has(k) || head.has(k), `${spec.name} key ${k}`);
        for (const k of spec.key) {
          const f = spec.fields.find((g) => g.name === k) ?? (spec.parent ? recordSpec(spec.parent).fields.find((g) => g.name === k) : undefined);
          assert.equal(f?.required, true, `key field ${k} is required`);
        }
      });
    });
  }
});

describe('message roots hold their entities', () => {
  for (const [root, recordName] of Object.entries(MESSAGE_ROOTS)) {
    test(`${root} → ${recordName}`, () => {
      const spec = recordSpec(recordName);
      assert.equal(`${spec.message}Message`, root);
      const entity = spec.entity ?? spec.element;
      const rootChildren = xsdChildren(root);
      assert.equal(rootChildren[0]?.name, entity, `${root} starts with ${entity}`);
      assert.equal(rootChildren[0]?.isRef, true);
      assert.ok((rootChildren[0]?.maxOccurs ?? 0) >= 1);
      assert.ok(rootChildren.some((c) => c.name === 'BaseTransfer'));
      if (spec.entity) {
        assert.ok(spec.lines, `${spec.name} with an entity has lines`);
        const lines = recordSpec(spec.lines);
        assert.equal(lines.parent, spec.name);
        assert.equal(lines.message, spec.message);
        const entityChildren = xsdChildren(spec.entity);
        assert.deepEqual(
          entityChildren.map((c) => c.name),
          [spec.element, lines.element],
        );
        assert.ok(entityChildren.every((c) => c.isRef));
        assert.equal(entityChildren[0]?.maxOccurs, 1);
        assert.ok((entityChildren[1]?.maxOccurs ?? 0) > 1, 'lines repeat');
      } else {
        assert.equal(spec.lines, undefined);
      }
    });
  }

  test('every head record is reachable from a message root', () => {
    const roots = new Set(Object.values(MESSAGE_ROOTS));
    for (const spec of RECORD_SPECS) {
      if (spec.parent) assert.ok(roots.has(spec.parent), spec.name);
      else assert.ok(roots.has(spec.name), spec.name);
    }
  });
});

describe('derived staging schema', () => {
  test('snakeCase', () => {
    assert.equal(snakeCase('copNo'), 'cop_no');
    assert.equal(snakeCase('POD'), 'pod');
    assert.equal(snakeCase('fCurrency'), 'f_currency');
    assert.equal(snakeCase('guid'), 'guid');
  });

  test('every staging table can be created in DuckDB with its columns in order', async () => {
    const db = await DuckDBInstance.create(':memory:');
    const con = await db.connect();
    try {
      for (const spec of RECORD_SPECS) {
        await con.run(stagingDDL(spec));
        const reader = await con.runAndReadAll(
          `SELECT column_name, data_type, is_nullable FROM information_schema.columns
           WHERE table_name = '${stagingTable(spec)}' ORDER BY ordinal_position`,
        );
        const rows = reader.getRowObjectsJS();
        const cols = stagingColumns(spec);
        assert.deepEqual(
          rows.map((r) => r['column_name']),
          cols.map((c) => c.column),
          spec.name,
        );
        for (const [i, c] of cols.entries()) {
          assert.match(c.column, /^[a-z][a-z0-9_]*$/, `${spec.name}.${c.column} is snake_case`);
          assert.equal(c.column, snakeCase(c.source));
          assert.equal(rows[i]?.['data_type'], duckType(c.type), `${spec.name}.${c.column}`);
          assert.equal(rows[i]?.['is_nullable'], c.nullable ? 'YES' : 'NO', `${spec.name}.${c.column}`);
        }
        const names = cols.map((c) => c.column);
        assert.equal(new Set(names).size, names.length, `${spec.name}: unique column names`);
        // the CEB fields come last, in spec order
        assert.deepEqual(
          names.slice(names.length - spec.fields.length),
          spec.fields.map((f) => snakeCase(f.name)),
        );
      }
      // the combined DDL is idempotent (IF NOT EXISTS) and runs as one script
      await con.run(allStagingDDL());
    } finally {
      con.closeSync();
      db.closeSync();
    }
  });

  test('line staging tables carry the head key and head_guid before their fields', () => {
    for (const spec of RECORD_SPECS.filter((s) => s.parent)) {
      const names = stagingColumns(spec).map((c) => c.source);
      const link = [...parentKeyFields(spec), 'headGuid'];
      assert.deepEqual(names.slice(PROVENANCE.length, PROVENANCE.length + link.length), link, spec.name);
      assert.deepEqual(tabularColumns(spec).slice(0, link.length), link, spec.name);
    }
  });

  test('Arrow schema has one field per staging column', () => {
    for (const spec of RECORD_SPECS as readonly RecordSpec[]) {
      const schema = arrowSchema(spec);
      const cols = stagingColumns(spec);
      assert.equal(schema.fields.length, cols.length, spec.name);
      assert.deepEqual(
        schema.fields.map((f) => f.name),
        cols.map((c) => c.column),
      );
      assert.deepEqual(
        schema.fields.map((f) => f.nullable),
        cols.map((c) => c.nullable),
      );
    }
  });
});
