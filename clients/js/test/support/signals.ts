/** Wake signals the test fires by hand, as a browser would on network changes and wake-up. */

import type { WakeSignal, WakeSignals } from "../../src/wake.js";

export class ManualSignals implements WakeSignals {
  private listener: ((signal: WakeSignal) => void) | undefined;
  private isOnline = true;

  online(): boolean {
    return this.isOnline;
  }

  listen(listener: (signal: WakeSignal) => void): () => void {
    this.listener = listener;
    return () => (this.listener = undefined);
  }

  fire(signal: WakeSignal): void {
    if (signal !== "visible") this.isOnline = signal === "online";
    this.listener?.(signal);
  }
}
