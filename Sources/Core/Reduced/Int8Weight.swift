// A frozen weight W [out, in] held as symmetric int8 with one fp32 scale per output channel (a quarter of
// its fp32 bytes), packed for the kernels in Sources/Kernels. Products quantize each activation row on the
// fly (symmetric, scale max|x| / 127), take exact integer dot products (vpdpbusd on AVX512_VNNI, vpmaddubsw
// on AVX2) and scale to fp32: what ONNX Runtime's dynamic quantization (MatMulInteger) and llama.cpp's Q8_0
// do, with per-row activation and per-channel weight scales. All paths give the same result bit for bit.
import CFlrKernels

public final class Int8Weight: RowDecodedWeight, @unchecked Sendable {
  public let outFeatures: Int, inFeatures: Int
  private let packed: UnsafeMutablePointer<Int8>
  private let packedCount: Int
  private let scales: UnsafeMutablePointer<Float>  // [out]
  private let columnSums: UnsafeMutablePointer<Int32>  // [out]

  /// Quantizes w [out, in] (per output row: scale max|w| / 127, round to nearest even).
  public init(_ w: UnsafePointer<Float>, outFeatures: Int, inFeatures: Int) {
    self.outFeatures = outFeatures
    self.inFeatures = inFeatures
    packedCount = flr_int8_packed_count(outFeatures, inFeatures)
    packed = .allocate(capacity: packedCount)
    scales = .allocate(capacity: outFeatures)
    columnSums = .allocate(capacity: outFeatures)
    flr_int8_pack(w, outFeatures, inFeatures, packed, scales, columnSums)
  }

  deinit {
    packed.deallocate()
    scales.deallocate()
    columnSums.deallocate()
  }

  /// Bytes resident for the weight (codes, scales, column sums).
  public var residentBytes: Int { packedCount + outFeatures * 8 }

  /// Rows `range` of W as fp32 (code · scale) [range.count, in].
  public func decodeRows(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
    flr_int8_unpack_rows(packed, scales, outFeatures, inFeatures, range.lowerBound, range.upperBound, out)
  }

  /// out [rows, out] = dequant(quant(inp [rows, in]) · quant(W)ᵀ) + bias
  public func linearForward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, bias: UnsafePointer<Float>?, rows: Int
  ) {
    if rows == 0 { return }
    let work = ReducedProducts.profileWork(
      rows: rows, outFeatures: outFeatures, inFeatures: inFeatures, weightBytes: residentBytes, backward: false)
    let scope = Profile.begin(.int8Product, flops: work.flops, bytes: work.bytes)
    defer { Profile.end(scope) }
    let (n, k) = (outFeatures, inFeatures)
    let lda = (k + 3) / 4 * 4
    let panels = (n + Int(FLR_PANEL) - 1) / Int(FLR_PANEL)
    // Codes (lda bytes a row) then scales, in one Float scratch.
    let codeFloats = (rows * lda + 3) / 4
    Scratch.withFloats(codeFloats + rows) { raw in
      let a = UnsafeMutableRawPointer(raw).bindMemory(to: Int8.self, capacity: rows * lda)
      let rowScales = raw + codeFloats
      let quantize = { (range: Range<Int>) in
        flr_int8_quantize_rows(
          inp + range.lowerBound * k, range.count, k, a + range.lowerBound * lda, lda,
          rowScales + range.lowerBound)
      }
      if rows < ReducedProducts.rowSplitMinimum { quantize(0..<rows) }
      ReducedProducts.split(rows: rows, panels: panels, inFeatures: k) { rowRange, panelRange in
        if rows >= ReducedProducts.rowSplitMinimum { quantize(rowRange) }
        flr_int8_gemm(
          a + rowRange.lowerBound * lda, lda, rowScales + rowRange.lowerBound, rowRange.count, packed, scales,
          columnSums, n, k, bias, out + rowRange.lowerBound * n, n, panelRange.lowerBound, panelRange.upperBound)
      }
    }
  }

  /// Block `block` of `blocks` of `linearForward` for a few rows (fewer than ReducedProducts.rowSplitMinimum),
  /// on the calling thread: the panels `ReducedProducts.panels(block, of: blocks, outFeatures)` of out, the rows
  /// quantized here (each block quantizes them again: a few microseconds, no hand-off). Same bits as
  /// linearForward.
  public func linearForwardPanels(
    block: Int, of blocks: Int, out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
    bias: UnsafePointer<Float>?, rows: Int
  ) {
    let (n, k) = (outFeatures, inFeatures)
    let panels = ReducedProducts.panels(block, of: blocks, outFeatures: n)
    if rows == 0 || panels.isEmpty { return }
    let lda = (k + 3) / 4 * 4, codeFloats = (rows * lda + 3) / 4
    Scratch.withFloats(codeFloats + rows) { raw in
      let a = UnsafeMutableRawPointer(raw).bindMemory(to: Int8.self, capacity: rows * lda)
      flr_int8_quantize_rows(inp, rows, k, a, lda, raw + codeFloats)
      flr_int8_gemm(
        a, lda, raw + codeFloats, rows, packed, scales, columnSums, n, k, bias, out, n, panels.lowerBound,
        panels.upperBound)
    }
  }

  public var productKind: OpKind { .int8Product }

  /// Panels [p0, p1) of Wᵀ [in, out] as bf16, packed as flr_bf16_pack packs it (16 input features a panel).
  public func packTransposed(_ p0: Int, _ p1: Int, into out: UnsafeMutablePointer<UInt16>) {
    flr_int8_pack_transposed_bf16(packed, scales, outFeatures, inFeatures, p0, p1, out)
  }
}
