// These moved to the shared error table (@flotilla/shared); this file re-exports them only so that
// the rollout code, being rewritten elsewhere, needs no edit. Import them from @flotilla/shared.
export { CONFLICT_KIND, OutOfRangeError } from '@flotilla/shared';
