/**
 * Lets a caller ask a running loop to flush now and keep going — e.g. on a cluster's
 * preemption warning (`--checkpoint-signal SIGUSR1`).
 */
export class FlushRequest {
  #pending = false;

  /** Asks for a flush at the loop's next checkpoint (within a few milliseconds). */
  request(): void {
    this.#pending = true;
  }

  /** Whether a flush was requested since the last call (consumes the request). */
  take(): boolean {
    const pending = this.#pending;
    this.#pending = false;
    return pending;
  }
}
