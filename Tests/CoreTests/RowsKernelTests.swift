// The few-rows x·Wᵀ kernel (Sources/Kernels/rows.c and its AVX2 / AVX-512 files) on every path this CPU runs,
// always including the portable one: bit for bit Gemm's Swift SIMD16 rowsDotWeightRows (so the kernel path
// changes no fp32 decode result), for every row count the decoder uses, strided operands, and alpha / beta.
import CFlrKernels
import XCTest

@testable import FlrCore

final class RowsKernelTests: XCTestCase {
  override func tearDown() { KernelPath.active = .supported }

  /// (n, k): weight rows past the tiles of four, sums past the SIMD width, k below 16 and 0, a model width.
  static let shapes = [(4, 16), (37, 45), (9, 33), (5, 7), (6, 0), (13, 768)]
  /// (alpha, beta): plain, scaled, accumulating, and a negative alpha writing over NaNs (beta 0).
  static let scales: [(Float, Float)] = [(1, 0), (0.5, 2), (1, 1), (-1.5, 0)]

  /// One product on the Swift SIMD16 code or the dispatched kernel; a, b, c with row strides past their widths.
  func product(
    kernel: Bool, m: Int, n: Int, k: Int, alpha: Float, beta: Float, seed: UInt64
  ) -> [UInt32] {
    var data = TestData(seed: seed)
    let lda = k + 3, ldb = k + 5, ldc = n + 2
    let a = data.floats(m * lda, scale: 2), b = data.floats(n * ldb)
    var c = beta == 0 ? [Float](repeating: .nan, count: m * ldc) : data.floats(m * ldc)
    a.withUnsafeBufferPointer { a in
      b.withUnsafeBufferPointer { b in
        c.withUnsafeMutableBufferPointer { c in
          if kernel {
            flr_rows_dot_weight_rows(
              a.baseAddress, lda, b.baseAddress, ldb, c.baseAddress, ldc, m, n, k, alpha, beta)
          } else {
            Gemm.rowsDotWeightRows(
              a.baseAddress!, lda: lda, b.baseAddress!, ldb: ldb, c.baseAddress!, ldc: ldc, m: m, n: n, k: k,
              alpha: alpha, beta: beta)
          }
        }
      }
    }
    return c.map(\.bitPattern)
  }

  func testEveryPathGivesTheSIMD16Bits() {
    for path in KernelPath.runnable {
      KernelPath.active = path
      XCTAssertEqual(KernelPath.active, path)
      for m in 1...12 {
        for (n, k) in Self.shapes {
          for (alpha, beta) in Self.scales {
            let seed = UInt64(m * 1000 + n * 10 + k)
            let want = product(kernel: false, m: m, n: n, k: k, alpha: alpha, beta: beta, seed: seed)
            let got = product(kernel: true, m: m, n: n, k: k, alpha: alpha, beta: beta, seed: seed)
            XCTAssertEqual(got, want, "\(path) m=\(m) n=\(n) k=\(k) alpha=\(alpha) beta=\(beta)")
          }
        }
      }
    }
  }

  /// Gemm.matmul's few-rows products (2...gemvRowLimit rows against a weight) give the Swift SIMD16 bits on
  /// every path.
  func testMatmulUsesTheKernelWithTheSameBits() {
    var data = TestData(seed: 11)
    let n = 37, k = 45
    let w = data.tensor([n, k])
    for m in 2...Gemm.gemvRowLimit {
      let x = data.tensor([m, k])
      let want = Tensor(zeros: [m, n])
      Gemm.rowsDotWeightRows(
        x.data, lda: k, w.data, ldb: k, want.data, ldc: n, m: m, n: n, k: k, alpha: 1, beta: 0)
      for path in KernelPath.runnable {
        KernelPath.active = path
        let got = Tensor(zeros: [m, n])
        Gemm.matmul(x.data, w.data, got.data, m: m, n: n, k: k, transB: true)
        XCTAssertEqual(got.toArray().map(\.bitPattern), want.toArray().map(\.bitPattern), "\(path) m=\(m)")
      }
    }
  }
}
