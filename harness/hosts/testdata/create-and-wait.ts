// A stand-in for a harness that is SIGKILLed mid-run: creates a run's hosts (with its own reaper, or with none when
// the first argument is "none"), prints "created <run id>" and waits to be killed.
import { Hosts } from '../hosts.ts';

const hosts = await Hosts.create({ members: ['n1', 'n2'], ...(process.argv[2] === 'none' ? { reaper: null } : {}) });
process.stdout.write(`created ${hosts.runId}\n`);
setInterval(() => {}, 60_000);
