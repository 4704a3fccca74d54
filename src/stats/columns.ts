// Which values a statistic covers: a whole column (every element of a vector column), or one
// element of a vector column, named like `v[2]`.
import { MmrunError, show } from '../errors.ts';
import type { Field, RowLayout } from '../storage/dtype.ts';

/** One summarised quantity. */
export interface ColumnSelection {
  /** As the user names it and as results are keyed: `position`, `features`, `features[3]`. */
  readonly label: string;
  /** Index of the field in the layout. */
  readonly fieldIndex: number;
  readonly field: Field;
  /** First element of the field covered: 0, or the index of `v[k]`. */
  readonly element: number;
  /** Elements per row covered: the field's length for a whole column, 1 for `v[k]`. */
  readonly elements: number;
}

const SELECTOR = /^([A-Za-z_][A-Za-z0-9_]*)(?:\[\s*(\d+)\s*\])?$/;

/** Every column of the layout, then the element form: `x, n, v (or v[0]…v[15])`. */
function forms(layout: RowLayout): string {
  return layout.fields
    .map((f) => (f.vector ? `${f.name} (or ${f.name}[0]…${f.name}[${f.length - 1}])` : f.name))
    .join(', ');
}

/**
 * Resolves column selectors: a column name (a vector column: all its elements together) or
 * one element of a vector column as `v[2]`. With none, every column.
 * @throws MmrunError `UNKNOWN_COLUMN` listing the run's columns, `BAD_COLUMN_INDEX` for an
 * index out of range or on a scalar column, `BAD_OPTION` for an empty or repeated selector.
 */
export function selectColumns(
  layout: RowLayout,
  selectors: readonly string[] | undefined,
  source: string,
): ColumnSelection[] {
  if (selectors === undefined) {
    return layout.fields.map((field, fieldIndex) => ({
      label: field.name,
      fieldIndex,
      field,
      element: 0,
      elements: field.length,
    }));
  }
  if (selectors.length === 0) {
    throw new MmrunError('BAD_OPTION', 'no column was selected', {
      remedy: `pass --columns with some of ${forms(layout)}, or leave it out for all of them`,
    });
  }
  const seen = new Set<string>();
  return selectors.map((text) => {
    const match = SELECTOR.exec(text.trim());
    const fieldIndex = match ? layout.fields.findIndex((f) => f.name === match[1]) : -1;
    const field = layout.fields[fieldIndex];
    if (!match || !field) {
      throw new MmrunError(
        'UNKNOWN_COLUMN',
        `${source} has no column ${show(text)}; its columns are ${forms(layout)}`,
        {
          remedy: 'pass --columns with some of them, comma-separated (one element of a vector column as v[2])',
        },
      );
    }
    let selection: ColumnSelection;
    if (match[2] === undefined) {
      selection = { label: field.name, fieldIndex, field, element: 0, elements: field.length };
    } else {
      const element = Number(match[2]);
      if (!field.vector || element >= field.length) {
        const what = field.vector
          ? `has elements 0 to ${field.length - 1}, not ${match[2]}`
          : 'is a scalar and takes no index';
        throw new MmrunError('BAD_COLUMN_INDEX', `${source}: column '${field.name}' ${what}`, {
          remedy: `select one of ${forms(layout)}`,
        });
      }
      selection = { label: `${field.name}[${element}]`, fieldIndex, field, element, elements: 1 };
    }
    if (seen.has(selection.label)) {
      throw new MmrunError('BAD_OPTION', `column ${show(selection.label)} is selected twice`, {
        remedy: 'name each column once',
      });
    }
    seen.add(selection.label);
    return selection;
  });
}
