/**
 * The rows of a prepared SQLite statement, typed. node:sqlite types every row as a record of
 * unknown column values; the columns a SELECT names are known where it is written, so the
 * statement is given its row type once, here, instead of each row being cast where it is read.
 */
import type { SQLInputValue, StatementSync } from 'node:sqlite';

export interface RowsOf<Row> {
  get(...params: SQLInputValue[]): Row | undefined;
  all(...params: SQLInputValue[]): Row[];
}

/** `stmt`, whose rows have the columns of `Row` (the statement's SELECT list, in SQLite's types). */
export function rowsOf<Row>(stmt: StatementSync): RowsOf<Row> {
  return stmt as unknown as RowsOf<Row>;
}
