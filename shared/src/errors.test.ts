import { describe, expect, it } from 'vitest';
import { ConflictError, IntegrityError, InternalError, UnavailableError, errorClassFor } from './errors.js';

describe('errorClassFor', () => {
  it('names the class of every code, so an error rebuilt from its code keeps its class', () => {
    for (const original of [new IntegrityError('bad bytes'), new UnavailableError('no controller'), new ConflictError('taken'), new InternalError('bug')]) {
      const Class = errorClassFor(original.code);
      expect(Class).toBeDefined();
      const rebuilt = new Class!(original.message);
      expect(rebuilt).toBeInstanceOf(original.constructor);
      expect(rebuilt.code).toBe(original.code);
    }
  });

  it('knows no other codes, Object members included', () => {
    expect(errorClassFor('ENOENT')).toBeUndefined();
    expect(errorClassFor('constructor')).toBeUndefined();
    expect(errorClassFor('FLOTILLA_ERR_OUT_OF_RANGE')).toBeUndefined();
  });
});
