// The benchmark suite's progress bar (cli-progress) and its log lines, both on stderr so stdout carries only
// the results. The bar is drawn only on a terminal: in a pipe or a CI log it would be noise, so there only the
// log lines are written. A MultiBar (of one bar) rather than a SingleBar because it prints log lines above
// the bar and redraws it below them; a SingleBar saves and restores the cursor position around its run,
// which puts the cursor back over whatever the log lines scrolled in between.

import { Format, MultiBar, SingleBar } from 'cli-progress';
import type { GenericFormatter } from 'cli-progress';

const FORMAT = '[{bar}] {value}/{total} {duration}s {label}';

/** The default formatter on FORMAT, cut one column short of the width: a line that fills the last column
 *  leaves the cursor in the terminal's pending-wrap state, and some terminals then wrap the next write. */
const formatLine: GenericFormatter = (options, params, payload) =>
  Format.Formatter({ ...options, format: FORMAT }, params, payload).slice(0, Math.max(1, params.maxWidth - 1));

export class Progress {
  private readonly multi: MultiBar | null = null;
  private readonly bar: SingleBar | null = null;

  /** `total` steps; no bar when `enabled` is false (--no-progress) or `stream` is not a terminal. */
  constructor(total: number, enabled = true, private readonly stream: NodeJS.WriteStream = process.stderr) {
    if (!enabled || stream.isTTY !== true) return;
    this.multi = new MultiBar({
      stream, format: formatLine, barsize: 24, barCompleteChar: '#', barIncompleteChar: '-',
      // The suite is synchronous between steps, so cli-progress's own timer rarely gets to run: each
      // step() and log() redraws explicitly, and forceRedraw makes that redraw the bar even when its text
      // did not change (after a log line has been written over it).
      forceRedraw: true,
      // Leave the terminal's line wrapping and cursor alone: a Ctrl-C in the middle of a synchronous
      // benchmark kills the process before any handler could restore them. FORMAT is cut to the width instead.
      linewrap: true, hideCursor: false, gracefulExit: false,
    });
    this.bar = this.multi.create(total, 0, { label: '' });
    this.multi.update();
  }

  /** One step done; `label` says which. */
  step(label: string): void {
    if (!this.multi || !this.bar) return;
    this.bar.increment(1, { label });
    this.multi.update();
  }

  /** Prints a line (above the bar on a terminal) without breaking the bar. */
  log(msg: string): void {
    if (!this.multi) {
      this.stream.write(`${msg}\n`);
      return;
    }
    this.multi.log(`${msg}\n`);
    this.multi.update();
  }

  /** Leaves the bar's last state on its own line and stops cli-progress's redraw timer (which would
   *  otherwise keep the process alive). Safe to call more than once. */
  end(): void {
    if (!this.multi?.isActive) return;
    this.multi.stop();
  }
}
