export { SimFleet } from './fleet.js';
export { SimFleetProcess, SIM_CHILD_MAIN, type RemoteSimOptions, type SimMethod, type SimMethods } from './remote.js';
export { BeatWheel } from './wheel.js';
export type { Activation, SeenAssignment, SimFailMode, SimFleetOptions, SimHostSpec, SimNatsAuth, SimStats } from './types.js';
