import { z } from 'zod';
import { APP_NAME } from '@flotilla/shared';
import { validate } from './request.js';
import type { Alarm } from './types.js';

/** Every generic alarm's source starts with this, so a caller cannot pose as another source. */
export const GENERIC_SOURCE = 'webhook';

const printable = /^[^\p{Cc}]*$/u;

/**
 * `POST /v1/alerts`: the small body for scripts and other monitors. Strict: an unknown field is
 * refused (a misspelt `reason` should say so, not vanish).
 */
export const genericAlertSchema = z.strictObject({
  app: z.string().regex(APP_NAME, "must be an app name (1-63 lowercase letters, digits, '-' or '_')"),
  reason: z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(512, 'must be at most 512 characters')
    .regex(printable, 'must not contain control characters (use one line)'),
  severity: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,32}$/, "must be 1-32 letters, digits, '.', '-' or '_' (e.g. critical)")
    .optional(),
  source: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, "must be 1-64 letters, digits, '.', '-' or '_' (e.g. grafana)")
    .optional(),
});

export type GenericAlert = z.output<typeof genericAlertSchema>;

/** Validates a parsed JSON body; throws ValidationError naming the fields at fault. */
export function parseGenericAlert(value: unknown): GenericAlert {
  return validate(genericAlertSchema, value, 'alert');
}

export function alarmFromGenericAlert(alert: GenericAlert, receivedAtMs: number): Alarm {
  return {
    app: alert.app,
    source: alert.source ? `${GENERIC_SOURCE}:${alert.source}` : GENERIC_SOURCE,
    reason: alert.reason,
    ...(alert.severity !== undefined ? { severity: alert.severity } : {}),
    receivedAtMs,
    summary: {
      ...(alert.source !== undefined ? { source: alert.source } : {}),
      ...(alert.severity !== undefined ? { severity: alert.severity } : {}),
    },
  };
}
