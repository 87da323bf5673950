/** Media types as the gateway compares them: by essence, without parameters and in lower case. */

/** A media type's essence (`application/json; charset=utf-8` → `application/json`), or undefined when it is not one. */
export function mediaEssence(type: string): string | undefined {
  const essence = type.split(';', 1)[0]!.trim().toLowerCase();
  return /^[a-z0-9!#$&^_.+-]{1,64}\/[a-z0-9!#$&^_.+-]{1,64}$/.test(essence) ? essence : undefined;
}
