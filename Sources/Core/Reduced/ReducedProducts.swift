// What bf16 and int8 weights share: splitting a product over the workers, and the input gradient through a
// weight decoded to fp32 one tile of rows at a time (frozen bases in training; the weight is never expanded
// whole).
import CFlrKernels

enum ReducedProducts {
  /// Rows from which a product is split by rows (each worker converts and multiplies its own rows against
  /// every panel); fewer rows (decoding) are split by panels, each worker reading its share of the weight.
  static let rowSplitMinimum = 64
  /// Floats of fp32 weight decoded at a time for the input gradient (1 MiB).
  static let tileFloats = 1 << 18

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

  /// dinp [rows, inF] += dout [rows, outF] · W [outF, inF], W decoded `decode(weightRows, into)` a tile of rows
  /// at a time and multiplied with sgemm.
  static func backwardInput(
    dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, rows: Int, outFeatures: Int, inFeatures: Int,
    decode: (Range<Int>, UnsafeMutablePointer<Float>) -> Void
  ) {
    if rows == 0 { return }
    let tileRows = Swift.min(outFeatures, Swift.max(16, tileFloats / Swift.max(1, inFeatures)))
    Scratch.withFloats(tileRows * inFeatures) { w in
      for j0 in stride(from: 0, to: outFeatures, by: tileRows) {
        let n = Swift.min(outFeatures, j0 + tileRows) - j0
        Threads.parallelChunks(n, grain: Swift.max(1, (1 << 14) / Swift.max(1, inFeatures))) { range in
          decode((j0 + range.lowerBound)..<(j0 + range.upperBound), w + range.lowerBound * inFeatures)
        }
        Gemm.matmul(dout + j0, w, dinp, m: rows, n: inFeatures, k: n, beta: 1, lda: outFeatures)
      }
    }
  }
}
