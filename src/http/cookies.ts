/** Reading one cookie of a request's Cookie header, by name (the console's, the customer's, the sign-in's). */

/** The value of cookie `name` in a Cookie header, if any. */
export function cookieNamed(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}
