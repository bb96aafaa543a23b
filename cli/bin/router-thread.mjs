// Entry of a router front-end thread of the embedded form (cli/src/router-thread.ts), through tsx like the CLI.
import { register } from 'tsx/esm/api';

register();
await import('../src/router-thread.ts');
