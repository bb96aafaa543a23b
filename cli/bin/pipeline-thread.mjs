// Entry of the embedded form's pipeline thread (cli/src/pipeline-thread.ts), through tsx like the CLI.
import { register } from 'tsx/esm/api';

register();
await import('../src/pipeline-thread.ts');
