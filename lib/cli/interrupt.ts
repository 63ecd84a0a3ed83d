// Ctrl-C for every long command (pretrain, train, experiment): the first press asks the running job to
// stop after its current step (what finished is saved or reported); a second one exits at once.
export interface Interrupt {
  /** True once Ctrl-C was pressed. */
  readonly stopped: boolean;
}

/** Installs the one SIGINT handler; `what` says what happens next ("saving a checkpoint"). */
export function onInterrupt(what: string, log: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): Interrupt {
  const flag = { stopped: false };
  process.on('SIGINT', () => {
    if (flag.stopped) process.exit(130);
    flag.stopped = true;
    log(`\ninterrupted: finishing the current step, then ${what} (Ctrl-C again to quit now)`);
  });
  return flag;
}
