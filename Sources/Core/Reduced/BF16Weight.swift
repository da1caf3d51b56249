// A frozen weight W [out, in] held as bf16 (half its fp32 bytes), packed for the kernels in Sources/Kernels.
// Products round the activations to bf16 as they enter and accumulate in fp32: with vdpbf16ps on AVX512_BF16
// CPUs, elsewhere widening bf16 to fp32 in registers (every bf16 x bf16 product is exact in fp32, so only the
// order of the sums differs between paths). Every row count takes the same kernel, whose sums run in one order
// wherever a row sits, so a row's result does not depend on the rows multiplied with it (a batch of images or
// beams gives each the bits it gets alone); sgemm on the widened weight would sum a row differently by its place
// in sgemm's blocks. Without bf16 dot products many rows widen blocks of rows and weight to fp32 once
// (x86_avx2_widened.c: about 0.9x sgemm's rate per core on Zen 5's AVX2 path).
import CFlrKernels

public final class BF16Weight: RowDecodedWeight, @unchecked Sendable {
  public let outFeatures: Int, inFeatures: Int
  private let packed: UnsafeMutablePointer<UInt16>
  private let packedCount: Int

  /// Rounds w [out, in] to bf16 (nearest even).
  public init(_ w: UnsafePointer<Float>, outFeatures: Int, inFeatures: Int) {
    self.outFeatures = outFeatures
    self.inFeatures = inFeatures
    packedCount = flr_bf16_packed_count(outFeatures, inFeatures)
    packed = .allocate(capacity: packedCount)
    flr_bf16_pack(w, outFeatures, inFeatures, packed)
  }

  deinit { packed.deallocate() }

  /// Bytes resident for the weight.
  public var residentBytes: Int { packedCount * 2 }

  /// Rows `range` of W as fp32 [range.count, in] (exactly the bf16 values the products use).
  public func decodeRows(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
    flr_bf16_unpack_rows(packed, outFeatures, inFeatures, range.lowerBound, range.upperBound, out)
  }

  /// out [rows, out] = bf16(inp [rows, in]) · Wᵀ + bias
  public func linearForward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, bias: UnsafePointer<Float>?, rows: Int
  ) {
    if rows == 0 { return }
    let work = ReducedProducts.profileWork(
      rows: rows, outFeatures: outFeatures, inFeatures: inFeatures, weightBytes: residentBytes, backward: false)
    let scope = Profile.begin(.bf16Product, flops: work.flops, bytes: work.bytes)
    defer { Profile.end(scope) }
    let (n, k) = (outFeatures, inFeatures)
    let lda = (k + 1) / 2 * 2
    let panels = (n + Int(FLR_PANEL) - 1) / Int(FLR_PANEL)
    if rows >= ReducedProducts.rowSplitMinimum {
      Threads.parallelChunks(rows, grain: 32) { range in
        ReducedProducts.withBF16Blocks(range, of: inp, count: k, lda: lda) { block, a in
          flr_bf16_gemm(a, lda, block.count, packed, n, k, bias, out + block.lowerBound * n, n, 0, panels)
        }
      }
      return
    }
    // bf16 activations: lda values a row (k rounded up to even, zero padded), in a Float scratch of half the size.
    Scratch.withFloats((rows * lda + 1) / 2) { raw in
      let a = UnsafeMutableRawPointer(raw).bindMemory(to: UInt16.self, capacity: rows * lda)
      flr_bf16_from_f32_rows(inp, rows, k, k, a, lda)
      ReducedProducts.split(rows: rows, panels: panels, inFeatures: k) { rowRange, panelRange in
        flr_bf16_gemm(
          a + rowRange.lowerBound * lda, lda, rowRange.count, packed, n, k, bias, out + rowRange.lowerBound * n, n,
          panelRange.lowerBound, panelRange.upperBound)
      }
    }
  }

  /// Block `block` of `blocks` of `linearForward` for a few rows (fewer than ReducedProducts.rowSplitMinimum),
  /// on the calling thread: the panels `ReducedProducts.panels(block, of: blocks, outFeatures)` of out, the rows
  /// rounded to bf16 here (each block rounds them again). Same bits as linearForward.
  public func linearForwardPanels(
    block: Int, of blocks: Int, out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
    bias: UnsafePointer<Float>?, rows: Int
  ) {
    let (n, k) = (outFeatures, inFeatures)
    let panels = ReducedProducts.panels(block, of: blocks, outFeatures: n)
    if rows == 0 || panels.isEmpty { return }
    let lda = (k + 1) / 2 * 2
    Scratch.withFloats((rows * lda + 1) / 2) { raw in
      let a = UnsafeMutableRawPointer(raw).bindMemory(to: UInt16.self, capacity: rows * lda)
      flr_bf16_from_f32_rows(inp, rows, k, k, a, lda)
      flr_bf16_gemm(a, lda, rows, packed, n, k, bias, out, n, panels.lowerBound, panels.upperBound)
    }
  }

  public var productKind: OpKind { .bf16Product }

  /// Panels [p0, p1) of Wᵀ [in, out] as bf16, packed as flr_bf16_pack packs it (16 input features a panel).
  public func packTransposed(_ p0: Int, _ p1: Int, into out: UnsafeMutablePointer<UInt16>) {
    flr_bf16_pack_transposed(packed, outFeatures, inFeatures, p0, p1, out)
  }

  /// x rounded to bf16 and back (nearest even), as the products see their inputs.
  public static func round(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
    Scratch.withFloats((count + 1) / 2) { raw in
      let h = UnsafeMutableRawPointer(raw).bindMemory(to: UInt16.self, capacity: count)
      flr_bf16_from_f32(x, h, count)
      flr_bf16_to_f32(h, out, count)
    }
  }
}
