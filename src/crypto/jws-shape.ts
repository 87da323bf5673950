/**
 * What a compact JWS or JWT looks like as text, before anything is decoded: three base64url parts
 * separated by dots. A JWT the server issued or must verify always has a signature part; a
 * request body that claims to be a JWS may come with an empty one, which its verification then
 * refuses with its own error. The OpenAPI documents publish the same pattern.
 */

/** A compact JWS with an empty signature part allowed (the DCR request body, the software statement). */
export const COMPACT_JWS_PATTERN = '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]*$';
export const COMPACT_JWS = new RegExp(COMPACT_JWS_PATTERN);

/** A compact JWT with all three parts: an access token or an assertion to verify. */
export const COMPACT_JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
