/** Whole-body assertions for OAuth error responses (RFC 6749 §5.2 shape, nothing else). */
import assert from 'node:assert/strict';

/** Asserts the status and that the JSON body is exactly `body`: no extra fields, no stack trace. */
export async function assertErrorResponse(res: Response, status: number, body: { error: string; error_description: string }): Promise<void> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  assert.doesNotMatch(text, /\bat .+:\d+:\d+|node_modules|\/src\//, 'no stack trace or path in the body');
  assert.deepEqual(JSON.parse(text), body);
}

/** For openid-client rejections: the error is a ResponseBodyError carrying exactly `body`. */
export function isOAuthError(status: number, body: { error: string; error_description: string }) {
  return (err: unknown): boolean => {
    const e = err as { status?: number; cause?: unknown };
    assert.equal(e.status, status, String(err));
    assert.deepEqual(e.cause, body);
    return true;
  };
}

/** Admin API errors: `{code, message, traceId}`, the traceId being the response's interaction id. */
export async function assertAdminError(res: Response, status: number, code: string, message: string): Promise<void> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  const interactionId = res.headers.get('x-fapi-interaction-id');
  assert.ok(interactionId, 'x-fapi-interaction-id on the error');
  assert.deepEqual(JSON.parse(text), { code, message, traceId: interactionId });
}
