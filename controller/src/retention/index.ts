export { ArtifactGc, type ArtifactGcOptions, type GcOutcome, type RetainedArtifacts } from './gc.js';
export { retentionFacts, type ActiveRolloutVersions, type RetentionFacts } from './facts.js';
export { planRetention, protectionsOf, type Protections, type RetentionPlan } from './policy.js';
