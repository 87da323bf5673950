/** How commands print text that came from elsewhere, and aligned tables. */

// Names, ids, reasons and messages can come from a TPP's request or an imported document: never
// let them write terminal control sequences (or break a table with newlines) on an operator's screen.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** `text` with its control characters shown as \uXXXX escapes. */
export const printable = (text: string): string => text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/**
 * An aligned table, two spaces between columns: the last column is unpadded; `right` names the
 * columns (by index) aligned right, such as counts. Cells are printed as given (see printable).
 */
export function formatTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>, right: readonly number[] = []): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: readonly string[]): string =>
    r
      .map((c, i) => (i === r.length - 1 ? c : right.includes(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[header, ...rows].map(line).join('\n')}\n`;
}
