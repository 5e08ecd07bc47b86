/**
 * TPM command transports: swtpm's TCP command port (raw TPM 2.0 command/response bytes, one
 * connection at a time) and the kernel's resource-managed character device /dev/tpmrm0.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { Socket } from 'node:net';
import { DeviceError } from '../../core/index.ts';

export interface TpmTransport {
  /** Sends one command and returns the complete response. */
  transmit(command: Uint8Array): Promise<Uint8Array>;
  close(): Promise<void>;
}

const MAX_RESPONSE = 64 * 1024;

/** swtpm `socket --server type=tcp,port=P`: framing is the TPM header's own size field. */
export async function connectTcp(host: string, port: number, timeoutMs = 10_000): Promise<TpmTransport> {
  const sock = new Socket();
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new DeviceError(`tcp:${host}:${port}`, 'connect timed out')), timeoutMs);
    sock.once('error', (e) => {
      clearTimeout(t);
      reject(new DeviceError(`tcp:${host}:${port}`, `connect failed: ${e.message}`, { cause: e }));
    });
    sock.connect(port, host, () => {
      clearTimeout(t);
      resolve();
    });
  });
  sock.setNoDelay(true);
  let buf = new Uint8Array(0);
  let waiter: (() => void) | undefined;
  let failure: Error | undefined;
  sock.on('data', (d: Uint8Array) => {
    const next = new Uint8Array(buf.length + d.length);
    next.set(buf);
    next.set(d, buf.length);
    buf = next;
    waiter?.();
  });
  const fail = (e: Error): void => {
    failure = e;
    waiter?.();
  };
  sock.on('error', fail);
  sock.on('close', () => fail(new Error('connection closed by the TPM')));
  let busy = false;
  const device = `tcp:${host}:${port}`;
  return {
    async transmit(command) {
      if (busy) throw new DeviceError(device, 'concurrent command on one TPM connection');
      busy = true;
      try {
        buf = new Uint8Array(0);
        sock.write(command);
        const deadline = Date.now() + 60_000;
        for (;;) {
          if (buf.length >= 10) {
            const size = new DataView(buf.buffer, buf.byteOffset).getUint32(2);
            if (size < 10 || size > MAX_RESPONSE) throw new DeviceError(device, `response size ${size} out of range`);
            if (buf.length >= size) return buf.slice(0, size);
          }
          if (failure) throw new DeviceError(device, failure.message);
          if (Date.now() > deadline) throw new DeviceError(device, 'response timed out');
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, 1000);
            waiter = () => {
              clearTimeout(t);
              resolve();
            };
          });
          waiter = undefined;
        }
      } finally {
        busy = false;
      }
    },
    async close() {
      await new Promise<void>((resolve) => {
        if (sock.destroyed) return resolve();
        sock.once('close', () => resolve());
        sock.end();
        setTimeout(() => {
          sock.destroy();
          resolve();
        }, 1000).unref();
      });
    },
  };
}

/** /dev/tpmrm0 (or /dev/tpm0): one write of the command, one read of the response. */
export async function openDevice(path = '/dev/tpmrm0'): Promise<TpmTransport> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r+');
  } catch (e) {
    throw new DeviceError(path, `cannot open: ${(e as Error).message}`, { cause: e });
  }
  return {
    async transmit(command) {
      await fh.write(command, 0, command.length, null);
      const out = new Uint8Array(MAX_RESPONSE);
      const { bytesRead } = await fh.read(out, 0, out.length, null);
      if (bytesRead < 10) throw new DeviceError(path, `short response (${bytesRead} bytes)`);
      return out.slice(0, bytesRead);
    },
    async close() {
      await fh.close();
    },
  };
}
