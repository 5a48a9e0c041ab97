/// <reference lib="esnext.disposable" preserve="true" />
// DeviceTensor: GPU memory with a dtype and a shape (native/addon/device_tensor.cpp), and the explicit
// copies between it and host tensors. CUDA ops accept DeviceTensors wherever they accept typed arrays
// (lib/backends/cuda/*), so a whole MoE layer can stay on the device.

import { bytesPerElement, DType } from './dtype';
import type { Tensor } from './tensor';
import { loadNative, nativeLoadError } from './native';

/** The native object (native/addon/device_tensor.cpp). @internal */
export interface NativeDeviceTensor {
  upload(a: Float32Array | Uint16Array | Int32Array): void;
  download(a: Float32Array | Uint16Array | Int32Array): void;
  uploadAsync(a: Float32Array | Uint16Array | Int32Array): Promise<void>;
  downloadAsync(a: Float32Array | Uint16Array | Int32Array): Promise<void>;
  copyFrom(src: NativeDeviceTensor): void;
  fill(byte: number): void;
  dispose(): void;
  readonly ptr: bigint;
  readonly bytes: number;
  readonly dtype: DType;
  readonly shape: number[];
  readonly device: number;
  readonly disposed: boolean;
}

/** The CUDA entry points of the addon that this module uses. @internal */
export interface CudaDeviceNatives {
  cudaAllocate(dtype: DType, shape: readonly number[]): NativeDeviceTensor;
  cudaSynchronize(): void;
  cudaMemInfo(): { free: number; total: number };
}

/** The addon's CUDA device functions, or an Error saying why there are none. @internal */
export function cudaNatives(what: string): CudaDeviceNatives {
  const addon = loadNative() as unknown as Partial<CudaDeviceNatives> | null;
  if (addon === null) throw new Error(`${what}: the native addon is not loaded (${nativeLoadError() ?? 'unknown reason'})`);
  if (typeof addon.cudaAllocate !== 'function') {
    throw new Error(`${what}: this native binary was built without CUDA (rebuild with nvcc: npm run build-from-source)`);
  }
  return addon as CudaDeviceNatives;
}

type HostArray = Float32Array | Uint16Array | Int32Array;

function hostArrayFor(dtype: DType, n: number): HostArray {
  return dtype === 'f32' ? new Float32Array(n) : dtype === 'i32' ? new Int32Array(n) : new Uint16Array(n);
}

function numelOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * A dense row-major tensor in GPU memory: `shape` of `dtype` ('f32', 'bf16' / 'f16' as 16-bit patterns,
 * 'i32'). Copies to and from the host are explicit (`fromHost`, `toHost`, and async twins). Free it with
 * `dispose()` or a `using` declaration; the GC frees it eventually otherwise, but GPU memory does not press
 * the JS heap, so do not count on that. Memory an op in flight still reads is freed after that op.
 *
 * @example
 * using x = DeviceTensor.fromHost({ data: new Float32Array([1, 2, 3, 4]), shape: [2, 2], dtype: 'f32' });
 * const back = x.toHost(); // { data: Float32Array [1, 2, 3, 4], shape: [2, 2], dtype: 'f32' }
 */
export class DeviceTensor {
  /** @internal */
  readonly native: NativeDeviceTensor;
  readonly shape: readonly number[];
  readonly dtype: DType;

  private constructor(native: NativeDeviceTensor, shape: readonly number[], dtype: DType) {
    this.native = native;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
  }

  /** Uninitialised device memory of `shape` and `dtype`. */
  static allocate(dtype: DType, shape: readonly number[]): DeviceTensor {
    const n = cudaNatives('DeviceTensor.allocate').cudaAllocate(dtype, [...shape]);
    return new DeviceTensor(n, shape, dtype);
  }

  /** A device copy of a host tensor (synchronous). */
  static fromHost(t: Tensor): DeviceTensor {
    const d = DeviceTensor.allocate(t.dtype, t.shape);
    try {
      d.native.upload(t.data as HostArray);
    } catch (e) {
      d.dispose();
      throw e;
    }
    return d;
  }

  /** A device copy of a host tensor; the copy runs off the JS thread. */
  static async fromHostAsync(t: Tensor): Promise<DeviceTensor> {
    const d = DeviceTensor.allocate(t.dtype, t.shape);
    try {
      await d.native.uploadAsync(t.data as HostArray);
    } catch (e) {
      d.dispose();
      throw e;
    }
    return d;
  }

  get numel(): number {
    return numelOf(this.shape);
  }
  get bytes(): number {
    return this.numel * bytesPerElement(this.dtype);
  }
  /** The device address, for interop (e.g. torch / CuPy via their from-pointer constructors); 0n once disposed. */
  get ptr(): bigint {
    return this.native.ptr;
  }
  get disposed(): boolean {
    return this.native.disposed;
  }

  /** Copies the device contents into `out` (or a fresh array) and returns them as a host tensor. Waits for
   *  every op enqueued before it, so it is also where errors from those ops surface. */
  toHost(out?: HostArray): Tensor {
    const data = out ?? hostArrayFor(this.dtype, this.numel);
    this.native.download(data);
    return { data, shape: [...this.shape], dtype: this.dtype } as Tensor;
  }

  /** toHost() off the JS thread. */
  async toHostAsync(out?: HostArray): Promise<Tensor> {
    const data = out ?? hostArrayFor(this.dtype, this.numel);
    await this.native.downloadAsync(data);
    return { data, shape: [...this.shape], dtype: this.dtype } as Tensor;
  }

  /** Overwrites this tensor with `src` (same byte size), enqueued on the device (no host wait). */
  copyFrom(src: DeviceTensor): void {
    this.native.copyFrom(src.native);
  }

  /** Sets every byte (0 zeroes; 0xff poisons: NaN floats, -1 ints), enqueued on the device. */
  fill(byte: number): void {
    this.native.fill(byte);
  }

  /** Frees the device memory (once no op in flight uses it). Idempotent. */
  dispose(): void {
    this.native.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Waits for every enqueued CUDA op and throws the first asynchronous CUDA error. */
export function cudaSynchronize(): void {
  cudaNatives('cudaSynchronize').cudaSynchronize();
}

/** Free and total bytes of GPU memory on device 0. */
export function cudaMemInfo(): { free: number; total: number } {
  return cudaNatives('cudaMemInfo').cudaMemInfo();
}
