export * as abi from './abi.js';
export { Userfaultfd, type UserfaultfdOptions, explainCreateFailure } from './userfaultfd.js';
