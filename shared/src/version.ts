/** Flotilla's own version, reported by every program and in every agent's inventory. */
export const FLOTILLA_VERSION = '0.1.0';
