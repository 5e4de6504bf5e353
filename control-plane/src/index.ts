export * from './control-plane.js';
export * from './errors.js';
export * from './push/pusher.js';
export * from './registry/agent-record.js';
export * from './registry/registry.js';
export * from './store/file-store.js';
export * from './store/store.js';
export * from './identity/certificate-authority.js';
