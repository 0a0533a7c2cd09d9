// Imported first by main.ts for its effect: the agent program's V8 settings (footprint.ts) in
// place before any other module loads. A library user of @flotilla/agent keeps its own.
import { applyFootprintFlags } from './footprint.js';

applyFootprintFlags();
