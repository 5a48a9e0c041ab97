// The commander settings every `moe-kernels` command shares (the top level, doctor, and the benchmark suite's
// bench): parse errors come back as exceptions instead of process.exit, so main() can return its exit code
// (0 for help and version, 2 for bad usage) and tests can call it in-process; output goes through
// console.log / console.error, which tests capture; an error names the command and is followed by its help.

import { Command, CommanderError } from 'commander';

/** The exit code of bad usage, as opposed to 1 for a run that failed. */
export const USAGE_EXIT = 2;

/** A commander Command named `name` with the shared settings; its errors start with `prefix` (the whole
 *  command line's name, e.g. 'moe-kernels doctor' for the subcommand named 'doctor'). */
export function cliCommand(name: string, prefix = name): Command {
  return new Command(name)
    .exitOverride()
    .configureOutput({
      // commander writes whole lines ending in '\n'; console.log adds that newline back.
      writeOut: (s) => console.log(s.replace(/\n$/, '')),
      writeErr: (s) => console.error(s.replace(/\n$/, '')),
      outputError: (s, write) => write(s.replace(/^error: /, `${prefix}: `)),
    })
    .showHelpAfterError()
    .allowExcessArguments(false);
}

/** The exit code for what `parse` threw: 0 after --help / --version, USAGE_EXIT for a usage error; anything
 *  that is not commander's is rethrown. commander has already printed the message (and the help). */
export function exitCodeOf(e: unknown): number {
  if (!(e instanceof CommanderError)) throw e;
  return e.exitCode === 0 ? 0 : USAGE_EXIT;
}
