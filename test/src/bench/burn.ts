import { spawn, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { CpuWindow } from './proc.js';

const BURNER = [
  'process.stdin.on("end", () => process.exit(0)).resume();',
  'const spin = () => { const t = Date.now(); while (Date.now() - t < 50); setImmediate(spin); };',
  'spin();',
].join(' ');

/**
 * Busy-looping processes that load the machine while a figure is measured (`--burn N`), so the
 * figure shows what the controller does when it competes for the cores. Each burner is a bare
 * Node process spinning on the CPU; what they took, and the load average at the end, go into the
 * figure's row so the load is stated, not assumed.
 */
export class CpuBurners {
  private readonly children: ChildProcess[] = [];
  private windows: CpuWindow[] = [];

  private constructor(count: number) {
    for (let i = 0; i < count; i++) {
      // Spins in 50 ms slices and looks at its stdin between them: when the bench dies, the pipe
      // closes and the burner exits instead of spinning on.
      const child = spawn(process.execPath, ['-e', BURNER], { stdio: ['pipe', 'ignore', 'ignore'] });
      this.children.push(child);
    }
    this.windows = this.children.map((c) => new CpuWindow(c.pid as number));
  }

  static start(count: number): CpuBurners {
    return new CpuBurners(count);
  }

  get count(): number {
    return this.children.length;
  }

  /** Opens a new measurement window over the burners (their CPU share is read over it). */
  mark(): void {
    this.windows = this.children.map((c) => new CpuWindow(c.pid as number));
  }

  /** The burners' CPU over the window (cores' worth, summed) and the 1-minute load average now. */
  read(): { cores: number; loadAverage1m: number } {
    let cores = 0;
    for (const w of this.windows) {
      try {
        cores += w.read().share;
      } catch {
        // a burner that died counts nothing
      }
    }
    return { cores, loadAverage1m: loadavg()[0] as number };
  }

  /** Stops every burner; resolves when they have exited. */
  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
  }
}
