// What bf16 and int8 weights share: splitting a product over the workers, and the input gradient of a frozen
// base in training, dX += dY · W (the weight is never expanded whole): bf16 products on W repacked as Wᵀ panels
// a tile at a time, the same kernels at every row count (a row's result does not depend on the other rows).
import CFlrKernels

public enum ReducedProducts {
  /// Rows from which a product is split by rows (each worker converts and multiplies its own rows against
  /// every panel); fewer rows (decoding) are split by panels, each worker reading its share of the weight.
  public static let rowSplitMinimum = 64
  /// Bytes of Wᵀ packed at a time for the bf16 input gradient (the kernel blocks for the caches within a tile;
  /// a Linear up to 2048 x 1024 is one tile). At least two panels; tests lower it to try many tiles.
  nonisolated(unsafe) static var transposedTileBytes = 4 << 20

  /// Runs `body(rows, panels)` over the product's blocks on the workers.
  static func split(rows: Int, panels: Int, inFeatures: Int, _ body: (Range<Int>, Range<Int>) -> Void) {
    if rows >= rowSplitMinimum {
      Threads.parallelChunks(rows, grain: 32) { body($0, 0..<panels) }
    } else {
      // Each piece gets at least ~64K multiply-adds.
      let grain = Swift.max(1, 65536 / Swift.max(1, FLR_PANEL * inFeatures * rows))
      Threads.parallelChunks(panels, grain: grain) { body(0..<rows, $0) }
    }
  }

  /// Panels of block `block` of `blocks` over a weight of `outFeatures` rows (FLR_PANEL columns of out each).
  public static func panels(_ block: Int, of blocks: Int, outFeatures n: Int) -> Range<Int> {
    let count = (n + FLR_PANEL - 1) / FLR_PANEL
    return (block * count / Swift.max(1, blocks))..<((block + 1) * count / Swift.max(1, blocks))
  }

  /// Output columns of `panels(block, of: blocks, outFeatures:)`.
  public static func columns(_ block: Int, of blocks: Int, outFeatures n: Int) -> Range<Int> {
    let p = panels(block, of: blocks, outFeatures: n)
    return Swift.min(n, p.lowerBound * FLR_PANEL)..<Swift.min(n, p.upperBound * FLR_PANEL)
  }

  /// `body(block, a)` over blocks of `range`'s rows, each first converted from `source` [.., count] to bf16
  /// `a` [block, lda] (zero padded) in a buffer of the calling worker's own, about 128 KiB, so the product
  /// reads the converted rows from cache rather than from a whole converted copy in memory.
  static func withBF16Blocks(
    _ range: Range<Int>, of source: UnsafePointer<Float>, count: Int, lda: Int,
    _ body: (Range<Int>, UnsafePointer<UInt16>) -> Void
  ) {
    let blockRows = Swift.max(8, (1 << 17) / Swift.max(1, 2 * lda) / 8 * 8)
    Scratch.withFloats((Swift.min(blockRows, range.count) * lda + 1) / 2) { raw in
      let a = UnsafeMutableRawPointer(raw).bindMemory(to: UInt16.self, capacity: blockRows * lda)
      for r0 in stride(from: range.lowerBound, to: range.upperBound, by: blockRows) {
        let block = r0..<Swift.min(range.upperBound, r0 + blockRows)
        flr_bf16_from_f32_rows(source + r0 * count, block.count, count, count, a, lda)
        body(block, a)
      }
    }
  }

  /// dinp [rows, inF] += bf16(dout) [rows, outF] · W [outF, inF], fp32 sums. `packTransposed(panels, into)`
  /// writes Wᵀ's panels (16 input features each, outF in pairs: what vdpbf16ps pairs in this product) as bf16.
  static func backwardInputBF16(
    dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, rows: Int, outFeatures: Int, inFeatures: Int,
    packTransposed: (Range<Int>, UnsafeMutablePointer<UInt16>) -> Void
  ) {
    if rows == 0 { return }
    let (n, k) = (outFeatures, inFeatures)
    let lda = (n + 1) / 2 * 2
    let panelValues = flr_bf16_transposed_panel_count(n)
    let panels = (k + FLR_PANEL - 1) / FLR_PANEL
    let tilePanels = Swift.min(panels, Swift.max(2, transposedTileBytes / (2 * panelValues)))
    if tilePanels == panels && rows >= rowSplitMinimum {
      // Wᵀ in one tile (a Linear up to 2048 x 1024); each worker converts its rows of dout a block at a time.
      Scratch.withFloats((panels * panelValues + 1) / 2) { raw in
        let tile = UnsafeMutableRawPointer(raw).bindMemory(to: UInt16.self, capacity: panels * panelValues)
        Threads.parallelChunks(panels) { packTransposed($0, tile + $0.lowerBound * panelValues) }
        Threads.parallelChunks(rows, grain: 32) { range in
          withBF16Blocks(range, of: dout, count: n, lda: lda) { block, a in
            flr_bf16_gemm_accumulate(a, lda, block.count, tile, k, n, dinp + block.lowerBound * k, k, 0, panels)
          }
        }
      }
      return
    }
    let gradientFloats = (rows * lda + 1) / 2
    Scratch.withFloats(gradientFloats + (tilePanels * panelValues + 1) / 2) { raw in
      let a = UnsafeMutableRawPointer(raw).bindMemory(to: UInt16.self, capacity: rows * lda)  // bf16(dout)
      let tile = UnsafeMutableRawPointer(raw + gradientFloats).bindMemory(
        to: UInt16.self, capacity: tilePanels * panelValues)
      Threads.parallelChunks(rows, grain: Swift.max(1, (1 << 14) / Swift.max(1, n))) { r in
        flr_bf16_from_f32_rows(dout + r.lowerBound * n, r.count, n, n, a + r.lowerBound * lda, lda)
      }
      for t0 in stride(from: 0, to: panels, by: tilePanels) {
        let t1 = Swift.min(panels, t0 + tilePanels)
        Threads.parallelChunks(t1 - t0) { range in
          packTransposed((t0 + range.lowerBound)..<(t0 + range.upperBound), tile + range.lowerBound * panelValues)
        }
        let columns = Swift.min(k, t1 * FLR_PANEL) - t0 * FLR_PANEL
        split(rows: rows, panels: t1 - t0, inFeatures: n) { rowRange, panelRange in
          flr_bf16_gemm_accumulate(
            a + rowRange.lowerBound * lda, lda, rowRange.count, tile, columns, n,
            dinp + rowRange.lowerBound * k + t0 * FLR_PANEL, k, panelRange.lowerBound, panelRange.upperBound)
        }
      }
    }
  }

  /// The profile's figures for one product with a weight of `weightBytes`: forward reads x [rows, in] and
  /// writes y [rows, out]; the input gradient reads dy [rows, out] and adds into dx [rows, in].
  static func profileWork(rows: Int, outFeatures: Int, inFeatures: Int, weightBytes: Int, backward: Bool) -> (
    flops: Int, bytes: Int
  ) {
    let flops = 2 * rows * outFeatures * inFeatures
    let activations =
      backward ? 4 * rows * outFeatures + 8 * rows * inFeatures : 4 * rows * inFeatures + 4 * rows * outFeatures
    return (flops, activations + weightBytes)
  }
}
